package main

import (
	"bytes"
	"encoding/hex"
	"strings"

	"google.golang.org/protobuf/proto"

	kmstypes "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
)

type ProtoCase struct {
	Name        string            `json:"name"`
	Data        string            `json:"encrypted_data_hex"`
	KeyID       string            `json:"key_id"`
	DEKSource   string            `json:"encrypted_dek_source_hex"`
	Annotations map[string]string `json:"annotations_hex"`
	SourceType  int32             `json:"dek_source_type"`
	Wire        string            `json:"wire_hex"`
}

// protoCases marshals EncryptedObjects with upstream's generated type and Go's proto.Marshal
// (Deterministic, so several annotations come out sorted by key).
func protoCases() []ProtoCase {
	cases := []struct {
		name string
		obj  *kmstypes.EncryptedObject
	}{
		{"empty", &kmstypes.EncryptedObject{}},
		{"typical", &kmstypes.EncryptedObject{EncryptedData: det(1, 40), KeyID: "1", EncryptedDEKSource: []byte("c2VlZA=="),
			Annotations: map[string][]byte{"local-kek.kms.kubernetes.io": []byte("encrypted-local-kek")}, EncryptedDEKSourceType: 1}},
		{"empty-annotation-value", &kmstypes.EncryptedObject{KeyID: "1", Annotations: map[string][]byte{"a.b": {}}}},
		{"empty-annotation-key", &kmstypes.EncryptedObject{KeyID: "1", Annotations: map[string][]byte{"": []byte("v")}}},
		{"several-annotations", &kmstypes.EncryptedObject{KeyID: "k", Annotations: map[string][]byte{"z.io": []byte("1"), "a.io": []byte("2"), "m.io": {}}}},
		{"negative-type", &kmstypes.EncryptedObject{EncryptedData: []byte{1}, EncryptedDEKSourceType: -2}},
		{"long-fields", &kmstypes.EncryptedObject{EncryptedData: det(2, 20000), KeyID: string(make([]byte, 300)), EncryptedDEKSourceType: 300}},
	}
	var out []ProtoCase
	for _, c := range cases {
		wire, err := proto.MarshalOptions{Deterministic: true}.Marshal(c.obj)
		must(err)
		ann := map[string]string{}
		for k, v := range c.obj.Annotations {
			ann[k] = h(v)
		}
		out = append(out, ProtoCase{Name: c.name, Data: h(c.obj.EncryptedData), KeyID: c.obj.KeyID, DEKSource: h(c.obj.EncryptedDEKSource),
			Annotations: ann, SourceType: int32(c.obj.EncryptedDEKSourceType), Wire: h(wire)})
	}
	return out
}

// DecodePart is a byte string repeated Count times; a decode case's input is its parts in order.
type DecodePart struct {
	Hex   string `json:"hex"`
	Count int    `json:"count"`
}

// DecodeCase records what upstream does with hand-made (often hostile) EncryptedObject bytes:
// the error of proto.Unmarshal into upstream's generated type (empty when it decodes), and
// the full result of reading "k8s:enc:kms:v2:p:" + the bytes through upstream's KMS v2
// transformer with the Base64 mock.
type DecodeCase struct {
	Name           string       `json:"name"`
	Parts          []DecodePart `json:"parts"`
	UnmarshalError string       `json:"unmarshal_error"`
	Read           Expect       `json:"read"`
}

func decodeCases() []DecodeCase {
	group := func(n int) []DecodePart { // n nested, closed field-1 groups
		return []DecodePart{{"0b", n}, {"0c", n}}
	}
	inMap := func(n int) []DecodePart { // the same nesting inside one annotations map entry
		return []DecodePart{{protowireBytes(0x22, 2*n), 1}, {"0b", n}, {"0c", n}}
	}
	cases := []struct {
		name  string
		parts []DecodePart
	}{
		{"start-groups-2000000", []DecodePart{{"0b", 2000000}}},
		{"start-groups-1MiB", []DecodePart{{"0b", 1 << 20}}},
		{"nested-groups-9999", group(9999)},
		{"nested-groups-10000", group(10000)},
		{"nested-groups-10001", group(10001)},
		{"nested-groups-10002", group(10002)},
		{"nested-groups-10003", group(10003)},
		{"nested-groups-100000", group(100000)},
		{"map-nested-groups-10001", inMap(10001)},
		{"map-nested-groups-10002", inMap(10002)},
		{"unclosed-group", []DecodePart{{"0b", 3}, {"0c", 2}}},
		{"mismatched-end-group", []DecodePart{{"0b", 1}, {"14", 1}}},
	}
	env := kmsV2Transformer("p", &base64V2{keyID: "1"}, true)
	var out []DecodeCase
	for _, c := range cases {
		var body []byte
		for _, p := range c.parts {
			b, err := hex.DecodeString(p.Hex)
			must(err)
			body = append(body, bytes.Repeat(b, p.Count)...)
		}
		var uerr string
		if err := proto.Unmarshal(body, &kmstypes.EncryptedObject{}); err != nil {
			uerr = strings.ReplaceAll(err.Error(), "proto:\u00a0", "proto: ")
		}
		stored := append([]byte("k8s:enc:kms:v2:p:"), body...)
		out = append(out, DecodeCase{Name: c.name, Parts: c.parts, UnmarshalError: uerr, Read: expectOf(env, stored, []byte("aad"))})
	}
	return out
}

// protowireBytes is a tag byte and a varint length, hex encoded.
func protowireBytes(tag byte, n int) string {
	b := []byte{tag}
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return h(append(b, byte(n)))
}
