package main

import (
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
