// Command transform-oracle produces the test data of crates/atrest-transformers/tests/data from
// upstream code: k8s.io/apiserver v0.37.2 transformers and encryption-config loader, Go's
// crypto/cipher and golang.org/x/crypto (nacl/secretbox, hkdf).
//
// Usage: transform-oracle <output dir>
//
// or transform-oracle bench ... to time upstream's transformers (bench.go).
//
// It writes six files:
//   - kat.json: known-answer vectors with fixed keys, IVs and nonces, encrypted with Go's
//     crypto primitives and checked by decrypting with the upstream transformers.
//   - upstream_random.json: values written by upstream's own transformers (random nonces,
//     random DEKs) that the Rust code must decrypt.
//   - chain.json: full upstream prefix chains built by encryptionconfig.LoadEncryptionConfig
//     from a config file, fed with valid, mutated, truncated and foreign values; records the
//     result or the exact error text.
//   - kmsv2_legacy.json: upstream's two KMS v2 golden values (legacy.go), decoded, validated
//     and decrypted by upstream code.
//   - kmsv2_proto.json: EncryptedObject wire encodings from upstream's type and proto.Marshal.
//   - kmsv2_decode.json: hostile EncryptedObject bytes (deeply nested groups) and what
//     upstream's proto.Unmarshal and KMS v2 transformer make of them.
//
// Everything except the random values is deterministic: re-running it gives identical
// kat.json and identical expectations in chain.json for the fixed inputs.
package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/hkdf"
	"golang.org/x/crypto/nacl/secretbox"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
	"k8s.io/apiserver/pkg/storage/value"
	aestransformer "k8s.io/apiserver/pkg/storage/value/encrypt/aes"
	"k8s.io/apiserver/pkg/storage/value/encrypt/envelope"
	"k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2"
	kmstypes "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
	secretboxtransformer "k8s.io/apiserver/pkg/storage/value/encrypt/secretbox"
	kmsservice "k8s.io/kms/pkg/service"
)

// ---------------------------------------------------------------------------------------------
// Base64 KMS mocks, same behaviour as upstream's
// pkg/storage/value/encrypt/envelope/testing/{v1beta1,v2}/kms_plugin_mock.go without gRPC.

type base64V2 struct {
	keyID  string
	failed bool
}

func (s *base64V2) Status(ctx context.Context) (*kmsservice.StatusResponse, error) {
	if s.failed {
		return nil, status.Error(codes.FailedPrecondition, "failed precondition - key disabled")
	}
	return &kmsservice.StatusResponse{Version: "v2beta1", Healthz: "ok", KeyID: s.keyID}, nil
}

func (s *base64V2) Decrypt(ctx context.Context, uid string, req *kmsservice.DecryptRequest) ([]byte, error) {
	if s.failed {
		return nil, status.Error(codes.FailedPrecondition, "failed precondition - key disabled")
	}
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(req.Ciphertext)))
	n, err := base64.StdEncoding.Decode(buf, req.Ciphertext)
	if err != nil {
		// The gRPC server turns a plain error into code Unknown.
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return buf[:n], nil
}

func (s *base64V2) Encrypt(ctx context.Context, uid string, data []byte) (*kmsservice.EncryptResponse, error) {
	if s.failed {
		return nil, status.Error(codes.FailedPrecondition, "failed precondition - key disabled")
	}
	buf := make([]byte, base64.StdEncoding.EncodedLen(len(data)))
	base64.StdEncoding.Encode(buf, data)
	return &kmsservice.EncryptResponse{Ciphertext: buf, KeyID: s.keyID, Annotations: map[string][]byte{"local-kek.kms.kubernetes.io": []byte("encrypted-local-kek")}}, nil
}

type base64V1 struct{}

func (base64V1) Decrypt(data []byte) ([]byte, error) {
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(data)))
	n, err := base64.StdEncoding.Decode(buf, data)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return buf[:n], nil
}

func (base64V1) Encrypt(data []byte) ([]byte, error) {
	buf := make([]byte, base64.StdEncoding.EncodedLen(len(data)))
	base64.StdEncoding.Encode(buf, data)
	return buf, nil
}

// unionTransformers mirrors the unexported type of the same name in
// pkg/server/options/encryptionconfig/config.go (KMS v1: GCM, then CBC fallback marked stale).
type unionTransformers []value.Transformer

func (u unionTransformers) TransformFromStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, bool, error) {
	var errs []error
	for i := range u {
		result, stale, err := u[i].TransformFromStorage(ctx, data, dataCtx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return result, stale || i != 0, nil
	}
	if err := utilerrors.Reduce(utilerrors.NewAggregate(errs)); err != nil {
		return nil, false, err
	}
	return nil, false, fmt.Errorf("unionTransformers: unable to transform from storage")
}

func (u unionTransformers) TransformToStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, error) {
	return u[0].TransformToStorage(ctx, data, dataCtx)
}

func kmsV1Transformer(name string) value.Transformer {
	base := func(block cipher.Block) (value.Transformer, error) {
		gcm, err := aestransformer.NewGCMTransformer(block)
		if err != nil {
			return nil, err
		}
		return unionTransformers{gcm, aestransformer.NewCBCTransformer(block)}, nil
	}
	return value.NewPrefixTransformers(fmt.Errorf("no matching prefix found"), value.PrefixTransformer{
		Prefix:      []byte("k8s:enc:kms:v1:" + name + ":"),
		Transformer: envelope.NewEnvelopeTransformer(base64V1{}, 0, base),
	})
}

// kmsV2Transformer builds the upstream KMS v2 envelope transformer with a write state generated
// by upstream's GenerateTransformer (random DEK or seed), as the config probe does.
func kmsV2Transformer(name string, svc kmsservice.Service, useSeed bool) value.Transformer {
	ctx := context.Background()
	tr, obj, cacheKey, err := kmsv2.GenerateTransformer(ctx, "oracle-uid", svc, useSeed)
	must(err)
	state := kmsv2.State{
		Transformer:                           tr,
		EncryptedObjectKeyID:                  obj.KeyID,
		EncryptedObjectEncryptedDEKSource:     obj.EncryptedDEKSource,
		EncryptedObjectAnnotations:            obj.Annotations,
		EncryptedObjectEncryptedDEKSourceType: obj.EncryptedDEKSourceType,
		UID:                                   "oracle-uid",
		ExpirationTimestamp:                   time.Now().Add(time.Hour),
		CacheKey:                              cacheKey,
		KMSProviderName:                       name,
	}
	env := kmsv2.NewEnvelopeTransformer(svc, name, func() (kmsv2.State, error) { return state, nil }, "oracle")
	return value.NewPrefixTransformers(fmt.Errorf("no matching prefix found"), value.PrefixTransformer{
		Prefix:      []byte("k8s:enc:kms:v2:" + name + ":"),
		Transformer: env,
	})
}

// ---------------------------------------------------------------------------------------------
// helpers

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func h(b []byte) string { return hex.EncodeToString(b) }

func det(seed int64, n int) []byte {
	r := rand.New(rand.NewSource(seed))
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

func writeJSON(dir, name string, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	must(err)
	must(os.WriteFile(filepath.Join(dir, name), append(data, '\n'), 0o644))
}

func pkcs7(data []byte) []byte {
	pad := aes.BlockSize - len(data)%aes.BlockSize
	return append(append([]byte{}, data...), bytes.Repeat([]byte{byte(pad)}, pad)...)
}

func cbcSeal(key, iv, plaintext []byte) []byte {
	block, err := aes.NewCipher(key)
	must(err)
	padded := pkcs7(plaintext)
	out := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, padded)
	return append(append([]byte{}, iv...), out...)
}

func gcmSeal(key, nonce, plaintext, aad []byte) []byte {
	block, err := aes.NewCipher(key)
	must(err)
	aead, err := cipher.NewGCM(block)
	must(err)
	return aead.Seal(append([]byte{}, nonce...), nonce, plaintext, aad)
}

func hkdfExpand(seed, info []byte) []byte {
	key := make([]byte, 32)
	_, err := io.ReadFull(hkdf.Expand(sha256.New, seed, info), key)
	must(err)
	return key
}

func b64(b []byte) []byte {
	out := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(out, b)
	return out
}

func decrypt(t value.Transformer, stored, aad []byte) ([]byte, bool, error) {
	return t.TransformFromStorage(context.Background(), stored, value.DefaultContext(aad))
}

func checkDecrypt(t value.Transformer, stored, aad, want []byte, wantStale bool, what string) {
	got, stale, err := decrypt(t, stored, aad)
	if err != nil {
		panic(fmt.Sprintf("%s: upstream decrypt failed: %v", what, err))
	}
	if !bytes.Equal(got, want) || stale != wantStale {
		panic(fmt.Sprintf("%s: upstream decrypt mismatch (stale=%v)", what, stale))
	}
}

func aesChain(provider, keyName string, key []byte) value.Transformer {
	block, err := aes.NewCipher(key)
	must(err)
	var inner value.Transformer
	noKey := "no matching key was found for the provided AES transformer"
	switch provider {
	case "aescbc":
		inner = aestransformer.NewCBCTransformer(block)
	case "aesgcm":
		inner, err = aestransformer.NewGCMTransformer(block)
		must(err)
	}
	keys := value.NewPrefixTransformers(fmt.Errorf("%s", noKey), value.PrefixTransformer{Prefix: []byte(keyName + ":"), Transformer: inner})
	return value.NewPrefixTransformers(fmt.Errorf("no matching prefix found"), value.PrefixTransformer{Prefix: []byte("k8s:enc:" + provider + ":v1:"), Transformer: keys})
}

func secretboxChain(keyName string, key []byte) value.Transformer {
	var k [32]byte
	copy(k[:], key)
	keys := value.NewPrefixTransformers(fmt.Errorf("no matching key was found for the provided Secretbox transformer"),
		value.PrefixTransformer{Prefix: []byte(keyName + ":"), Transformer: secretboxtransformer.NewSecretboxTransformer(k)})
	return value.NewPrefixTransformers(fmt.Errorf("no matching prefix found"), value.PrefixTransformer{Prefix: []byte("k8s:enc:secretbox:v1:"), Transformer: keys})
}

// ---------------------------------------------------------------------------------------------
// kat.json

type Kat struct {
	Name       string `json:"name"`
	Provider   string `json:"provider"`
	KeyName    string `json:"key_name,omitempty"`
	Key        string `json:"key_hex,omitempty"`
	IV         string `json:"iv_hex,omitempty"`
	Nonce      string `json:"nonce_hex,omitempty"`
	Info       string `json:"info_hex,omitempty"`
	AAD        string `json:"aad_hex"`
	Plaintext  string `json:"plaintext_hex"`
	Stored     string `json:"stored_hex"`
	KmsName    string `json:"kms_name,omitempty"`
	KeyID      string `json:"key_id,omitempty"`
	SourceType int    `json:"dek_source_type,omitempty"`
	Counter    uint64 `json:"nonce_counter,omitempty"`
}

func kats() []Kat {
	aad := []byte("/registry/secrets/default/secret1")
	plaintexts := map[string][]byte{
		"empty":   {},
		"one":     {'x'},
		"fifteen": []byte("0123456789abcde"),
		"block":   []byte("0123456789abcdef"),
		"17":      []byte("0123456789abcdefg"),
		"secret":  append([]byte("k8s\x00\n\x0c\n\x02v1\x12\x06Secret"), det(7, 200)...),
	}
	order := []string{"empty", "one", "fifteen", "block", "17", "secret"}
	var out []Kat
	for _, size := range []int{16, 24, 32} {
		key := det(int64(100+size), size)
		iv := det(int64(200+size), 16)
		nonce := det(int64(300+size), 12)
		for _, pn := range order {
			pt := plaintexts[pn]
			stored := append([]byte("k8s:enc:aescbc:v1:key1:"), cbcSeal(key, iv, pt)...)
			checkDecrypt(aesChain("aescbc", "key1", key), stored, aad, pt, false, "aescbc kat")
			out = append(out, Kat{Name: fmt.Sprintf("aescbc-%d-%s", size*8, pn), Provider: "aescbc", KeyName: "key1", Key: h(key), IV: h(iv), AAD: h(aad), Plaintext: h(pt), Stored: h(stored)})

			stored = append([]byte("k8s:enc:aesgcm:v1:key1:"), gcmSeal(key, nonce, pt, aad)...)
			checkDecrypt(aesChain("aesgcm", "key1", key), stored, aad, pt, false, "aesgcm kat")
			out = append(out, Kat{Name: fmt.Sprintf("aesgcm-%d-%s", size*8, pn), Provider: "aesgcm", KeyName: "key1", Key: h(key), Nonce: h(nonce), AAD: h(aad), Plaintext: h(pt), Stored: h(stored)})
		}
	}
	sbKey := det(400, 32)
	sbNonce := det(401, 24)
	for _, pn := range order {
		pt := plaintexts[pn]
		var n [24]byte
		var k [32]byte
		copy(n[:], sbNonce)
		copy(k[:], sbKey)
		stored := secretbox.Seal([]byte("k8s:enc:secretbox:v1:key1:"+string(sbNonce)), pt, &n, &k)
		checkDecrypt(secretboxChain("key1", sbKey), stored, aad, pt, false, "secretbox kat")
		out = append(out, Kat{Name: "secretbox-" + pn, Provider: "secretbox", KeyName: "key1", Key: h(sbKey), Nonce: h(sbNonce), AAD: h(aad), Plaintext: h(pt), Stored: h(stored)})
	}

	// Longer plaintexts across the batch edges of the Rust implementations (secretbox key
	// stream in batches of 4 or 8 blocks after the 32-byte Poly1305 key, CBC decryption in
	// runs of blocks).
	for _, n := range []int{63, 64, 65, 223, 224, 225, 479, 480, 481, 991, 992, 993, 4099} {
		pt := det(int64(700+n), n)
		var nb [24]byte
		var kb [32]byte
		copy(nb[:], sbNonce)
		copy(kb[:], sbKey)
		stored := secretbox.Seal([]byte("k8s:enc:secretbox:v1:key1:"+string(sbNonce)), pt, &nb, &kb)
		checkDecrypt(secretboxChain("key1", sbKey), stored, aad, pt, false, "secretbox kat")
		out = append(out, Kat{Name: fmt.Sprintf("secretbox-long-%d", n), Provider: "secretbox", KeyName: "key1", Key: h(sbKey), Nonce: h(sbNonce), AAD: h(aad), Plaintext: h(pt), Stored: h(stored)})
	}
	longKey := det(132, 32)
	longIV := det(232, 16)
	for _, n := range []int{111, 112, 127, 128, 129, 255, 1000, 4099} {
		pt := det(int64(800+n), n)
		stored := append([]byte("k8s:enc:aescbc:v1:key1:"), cbcSeal(longKey, longIV, pt)...)
		checkDecrypt(aesChain("aescbc", "key1", longKey), stored, aad, pt, false, "aescbc kat")
		out = append(out, Kat{Name: fmt.Sprintf("aescbc-256-long-%d", n), Provider: "aescbc", KeyName: "key1", Key: h(longKey), IV: h(longIV), AAD: h(aad), Plaintext: h(pt), Stored: h(stored)})
	}

	// KMS v1: DEK wrapped by the Base64 mock, GCM payload; plus a CBC-payload value (pre-1.25
	// writer) that reads through the fallback and is stale.
	dek := det(500, 32)
	gcmNonce := det(501, 12)
	cbcIV := det(502, 16)
	for _, pn := range order {
		pt := plaintexts[pn]
		for _, mode := range []string{"gcm", "cbc"} {
			var payload []byte
			if mode == "gcm" {
				payload = gcmSeal(dek, gcmNonce, pt, aad)
			} else {
				payload = cbcSeal(dek, cbcIV, pt)
			}
			b := cryptobyte.NewBuilder([]byte("k8s:enc:kms:v1:kms-provider:"))
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(b64(dek)) })
			b.AddBytes(payload)
			stored := b.BytesOrPanic()
			checkDecrypt(kmsV1Transformer("kms-provider"), stored, aad, pt, mode == "cbc", "kms v1 kat")
			k := Kat{Name: "kmsv1-" + mode + "-" + pn, Provider: "kmsv1-" + mode, KmsName: "kms-provider", Key: h(dek), AAD: h(aad), Plaintext: h(pt), Stored: h(stored)}
			if mode == "gcm" {
				k.Nonce = h(gcmNonce)
			} else {
				k.IV = h(cbcIV)
			}
			out = append(out, k)
		}
	}

	// KMS v2, AES_GCM_KEY: nonce = 4 fixed bytes + little-endian counter 1e9+1 (first write).
	svc := &base64V2{keyID: "1"}
	v2 := kmsV2Transformer("kms-provider", svc, true)
	dek2 := det(600, 32)
	nonce2 := make([]byte, 12)
	copy(nonce2, det(601, 4))
	binary.LittleEndian.PutUint64(nonce2[4:], 1_000_000_001)
	seed := det(602, 32)
	info := det(603, 32)
	nonce3 := det(604, 12)
	ann := map[string][]byte{"local-kek.kms.kubernetes.io": []byte("encrypted-local-kek")}
	for _, pn := range order {
		pt := plaintexts[pn]
		obj := &kmstypes.EncryptedObject{EncryptedData: gcmSeal(dek2, nonce2, pt, aad), KeyID: "1", EncryptedDEKSource: b64(dek2), Annotations: ann,
			EncryptedDEKSourceType: kmstypes.EncryptedDEKSourceType_AES_GCM_KEY}
		wire, err := proto.MarshalOptions{Deterministic: true}.Marshal(obj)
		must(err)
		stored := append([]byte("k8s:enc:kms:v2:kms-provider:"), wire...)
		// The write state uses a seed, so AES_GCM_KEY data reads stale.
		checkDecrypt(v2, stored, aad, pt, true, "kms v2 gcm kat")
		out = append(out, Kat{Name: "kmsv2-gcm-" + pn, Provider: "kmsv2", KmsName: "kms-provider", KeyID: "1", SourceType: 0, Key: h(dek2), Nonce: h(nonce2), Counter: 1_000_000_001, AAD: h(aad), Plaintext: h(pt), Stored: h(stored)})

		payload := append(append([]byte{}, info...), gcmSeal(hkdfExpand(seed, info), nonce3, pt, aad)...)
		obj = &kmstypes.EncryptedObject{EncryptedData: payload, KeyID: "1", EncryptedDEKSource: b64(seed), Annotations: ann,
			EncryptedDEKSourceType: kmstypes.EncryptedDEKSourceType_HKDF_SHA256_XNONCE_AES_GCM_SEED}
		wire, err = proto.MarshalOptions{Deterministic: true}.Marshal(obj)
		must(err)
		stored = append([]byte("k8s:enc:kms:v2:kms-provider:"), wire...)
		checkDecrypt(v2, stored, aad, pt, false, "kms v2 seed kat")
		out = append(out, Kat{Name: "kmsv2-seed-" + pn, Provider: "kmsv2", KmsName: "kms-provider", KeyID: "1", SourceType: 1, Key: h(seed), Info: h(info), Nonce: h(nonce3), AAD: h(aad), Plaintext: h(pt), Stored: h(stored)})
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// upstream_random.json

type Random struct {
	Name      string `json:"name"`
	Provider  string `json:"provider"`
	KeyName   string `json:"key_name,omitempty"`
	Key       string `json:"key_hex,omitempty"`
	KmsName   string `json:"kms_name,omitempty"`
	AAD       string `json:"aad_hex"`
	Plaintext string `json:"plaintext_hex"`
	Stored    string `json:"stored_hex"`
	Stale     bool   `json:"stale"`
}

func randoms() []Random {
	aad := []byte("/registry/secrets/kube-system/bootstrap-token-abcdef")
	var out []Random
	ctx := context.Background()
	for i, size := range []int{0, 1, 16, 31, 1000} {
		pt := det(int64(700+i), size)
		for _, ks := range []int{16, 24, 32} {
			key := det(int64(800+ks), ks)
			for _, p := range []string{"aescbc", "aesgcm"} {
				t := aesChain(p, "k", key)
				stored, err := t.TransformToStorage(ctx, pt, value.DefaultContext(aad))
				must(err)
				out = append(out, Random{Name: fmt.Sprintf("%s-%d-%d", p, ks*8, size), Provider: p, KeyName: "k", Key: h(key), AAD: h(aad), Plaintext: h(pt), Stored: h(stored)})
			}
		}
		sbKey := det(900, 32)
		t := secretboxChain("k", sbKey)
		stored, err := t.TransformToStorage(ctx, pt, value.DefaultContext(aad))
		must(err)
		out = append(out, Random{Name: fmt.Sprintf("secretbox-%d", size), Provider: "secretbox", KeyName: "k", Key: h(sbKey), AAD: h(aad), Plaintext: h(pt), Stored: h(stored)})

		stored, err = kmsV1Transformer("v1-provider").TransformToStorage(ctx, pt, value.DefaultContext(aad))
		must(err)
		out = append(out, Random{Name: fmt.Sprintf("kmsv1-%d", size), Provider: "kmsv1", KmsName: "v1-provider", AAD: h(aad), Plaintext: h(pt), Stored: h(stored)})

		for _, useSeed := range []bool{false, true} {
			stored, err = kmsV2Transformer("v2-provider", &base64V2{keyID: "1"}, useSeed).TransformToStorage(ctx, pt, value.DefaultContext(aad))
			must(err)
			out = append(out, Random{Name: fmt.Sprintf("kmsv2-seed=%v-%d", useSeed, size), Provider: "kmsv2", KmsName: "v2-provider", AAD: h(aad), Plaintext: h(pt), Stored: h(stored)})
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// chain.json: configs loaded by the real loader.

type Key struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

type Provider struct {
	Type string `json:"type"` // identity, aescbc, aesgcm, secretbox, kms
	Keys []Key  `json:"keys,omitempty"`
	Name string `json:"name,omitempty"` // kms name (apiVersion v2)
}

type Expect struct {
	Plaintext *string `json:"plaintext_hex,omitempty"`
	Stale     bool    `json:"stale,omitempty"`
	Error     *string `json:"error,omitempty"`
	// Panic holds the Go panic value when upstream panics (aescbc with an IV and no ciphertext).
	Panic *string `json:"panic,omitempty"`
}

type ChainRead struct {
	What   string `json:"what"`
	AAD    string `json:"aad_hex"`
	Stored string `json:"stored_hex"`
	Expect Expect `json:"expect"`
}

type ChainCase struct {
	Name      string      `json:"name"`
	Providers []Provider  `json:"providers"`
	AAD       string      `json:"aad_hex"`
	Plaintext string      `json:"plaintext_hex"`
	WritePfx  string      `json:"write_prefix"`
	Reads     []ChainRead `json:"reads"`
}

func configYAML(ps []Provider) string {
	var sb strings.Builder
	sb.WriteString("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n")
	for _, p := range ps {
		switch p.Type {
		case "identity":
			sb.WriteString("  - identity: {}\n")
		case "kms":
			fmt.Fprintf(&sb, "  - kms:\n      apiVersion: v2\n      name: %s\n      endpoint: unix:///@%s\n", p.Name, p.Name)
		default:
			fmt.Fprintf(&sb, "  - %s:\n      keys:\n", p.Type)
			for _, k := range p.Keys {
				fmt.Fprintf(&sb, "      - name: %s\n        secret: %s\n", k.Name, k.Secret)
			}
		}
	}
	return sb.String()
}

func loadChain(dir string, ps []Provider) value.Transformer {
	path := filepath.Join(dir, "encryption.yaml")
	must(os.WriteFile(path, []byte(configYAML(ps)), 0o600))
	cfg, err := encryptionconfig.LoadEncryptionConfig(context.Background(), path, false, "oracle")
	must(err)
	return cfg.Transformers[schema.GroupResource{Resource: "secrets"}]
}

func expectOf(t value.Transformer, stored, aad []byte) (e Expect) {
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			e = Expect{Panic: &msg}
		}
	}()
	out, stale, err := decrypt(t, stored, aad)
	if err != nil {
		// The protobuf library randomises the space after "proto:" per binary; normalise it.
		msg := strings.ReplaceAll(err.Error(), "proto:\u00a0", "proto: ")
		return Expect{Error: &msg}
	}
	s := h(out)
	return Expect{Plaintext: &s, Stale: stale}
}

func key64(seed int64, n int) string { return base64.StdEncoding.EncodeToString(det(seed, n)) }

func chains(dir string) []ChainCase {
	// Every kms provider in these configs talks to one Base64 mock with key ID "1".
	encryptionconfig.EnvelopeKMSv2ServiceFactory = func(ctx context.Context, endpoint, providerName string, callTimeout time.Duration) (kmsservice.Service, error) {
		return &base64V2{keyID: "1"}, nil
	}
	k1 := Key{"key1", key64(1001, 32)}
	k2 := Key{"key2", key64(1002, 32)}
	k1other := Key{"key1", key64(1003, 32)}
	k16 := Key{"key16", key64(1004, 16)}
	configs := []struct {
		name string
		ps   []Provider
	}{
		{"aescbc", []Provider{{Type: "aescbc", Keys: []Key{k1}}}},
		{"aescbc-rotated", []Provider{{Type: "aescbc", Keys: []Key{k2, k1}}}},
		{"aescbc-16", []Provider{{Type: "aescbc", Keys: []Key{k16}}}},
		{"aesgcm", []Provider{{Type: "aesgcm", Keys: []Key{k1}}}},
		{"aesgcm-rotated", []Provider{{Type: "aesgcm", Keys: []Key{k2, k1}}}},
		{"secretbox", []Provider{{Type: "secretbox", Keys: []Key{k1}}}},
		{"secretbox-rotated", []Provider{{Type: "secretbox", Keys: []Key{k2, k1}}}},
		{"identity", []Provider{{Type: "identity"}}},
		{"identity-first", []Provider{{Type: "identity"}, {Type: "aescbc", Keys: []Key{k1}}, {Type: "aesgcm", Keys: []Key{k1}}, {Type: "secretbox", Keys: []Key{k1}}}},
		{"aescbc-then-identity", []Provider{{Type: "aescbc", Keys: []Key{k1}}, {Type: "identity"}}},
		{"two-aescbc", []Provider{{Type: "aescbc", Keys: []Key{k2}}, {Type: "aescbc", Keys: []Key{k1}}}},
		{"two-aescbc-same-name", []Provider{{Type: "aescbc", Keys: []Key{k1other}}, {Type: "aescbc", Keys: []Key{k1}}}},
		{"same-name-keys", []Provider{{Type: "aesgcm", Keys: []Key{k1other, k1}}}},
		{"kmsv2", []Provider{{Type: "kms", Name: "kms-provider"}}},
		{"kmsv2-then-aesgcm", []Provider{{Type: "kms", Name: "kms-provider"}, {Type: "aesgcm", Keys: []Key{k1}}}},
		{"kmsv2-gcm", []Provider{{Type: "kms", Name: "kms-gcm"}}},
	}
	aad := []byte("/registry/secrets/default/s1")
	otherAAD := []byte("/registry/secrets/default/s2")
	plaintext := append([]byte("k8s\x00\n\x0c\n\x02v1\x12\x06Secret"), det(1100, 60)...)
	ctx := context.Background()

	// Writers for foreign values: every config writes once; those values are then read by
	// every other config.
	encryptionconfig.SetKDFForTests("kms-gcm", false)
	written := map[string][]byte{}
	var writeOrder []string
	for _, c := range configs {
		t := loadChain(dir, c.ps)
		stored, err := t.TransformToStorage(ctx, plaintext, value.DefaultContext(aad))
		must(err)
		written[c.name] = stored
		writeOrder = append(writeOrder, c.name)
	}
	extras := map[string][]byte{
		"plain-json":         []byte(`{"kind":"Secret"}`),
		"unknown-enc-prefix": []byte("k8s:enc:rot13:v1:key1:abc"),
		"empty":              {},
		"bare-enc-prefix":    []byte("k8s:enc:"),
		"aescbc-unknown-key": []byte("k8s:enc:aescbc:v1:key9:0123456789abcdef0123456789abcdef"),
		"aescbc-iv-only":     append([]byte("k8s:enc:aescbc:v1:key1:"), det(1200, 16)...),
		"aescbc-short":       append([]byte("k8s:enc:aescbc:v1:key1:"), det(1201, 15)...),
		"aescbc-not-block":   append([]byte("k8s:enc:aescbc:v1:key1:"), det(1202, 40)...),
		"aesgcm-short":       append([]byte("k8s:enc:aesgcm:v1:key1:"), det(1203, 11)...),
		"secretbox-short":    append([]byte("k8s:enc:secretbox:v1:key1:"), det(1204, 39)...),
		"kmsv2-garbage":      append([]byte("k8s:enc:kms:v2:kms-provider:"), 0xff, 0xff),
		"kmsv2-empty":        []byte("k8s:enc:kms:v2:kms-provider:"),
	}
	var extraOrder []string
	for k := range extras {
		extraOrder = append(extraOrder, k)
	}
	sortStrings(extraOrder)

	var out []ChainCase
	for ci, c := range configs {
		t := loadChain(dir, c.ps)
		own := written[c.name]
		cc := ChainCase{Name: c.name, Providers: c.ps, AAD: h(aad), Plaintext: h(plaintext)}
		// The write prefix: everything up to the cipher output (for identity, empty).
		cc.WritePfx = writePrefix(c.ps)
		if !bytes.HasPrefix(own, []byte(cc.WritePfx)) {
			panic("write prefix mismatch for " + c.name)
		}
		add := func(what string, stored []byte, readAAD []byte) {
			cc.Reads = append(cc.Reads, ChainRead{What: what, AAD: h(readAAD), Stored: h(stored), Expect: expectOf(t, stored, readAAD)})
		}
		add("own", own, aad)
		add("own-other-aad", own, otherAAD)
		for _, w := range writeOrder {
			if w != c.name {
				add("from:"+w, written[w], aad)
			}
		}
		for _, e := range extraOrder {
			add("extra:"+e, extras[e], aad)
		}
		// Mutations of the own value: truncations and single-byte flips at deterministic spots.
		r := rand.New(rand.NewSource(int64(5000 + ci)))
		for i := 0; i < 24; i++ {
			n := r.Intn(len(own))
			add(fmt.Sprintf("truncate:%d", n), own[:n], aad)
		}
		for i := 0; i < 48; i++ {
			m := append([]byte{}, own...)
			pos := r.Intn(len(m))
			m[pos] ^= byte(1 + r.Intn(255))
			add(fmt.Sprintf("flip:%d", pos), m, aad)
		}
		out = append(out, cc)
	}
	return out
}

func writePrefix(ps []Provider) string {
	p := ps[0]
	switch p.Type {
	case "identity":
		return ""
	case "kms":
		return "k8s:enc:kms:v2:" + p.Name + ":"
	default:
		return "k8s:enc:" + p.Type + ":v1:" + p.Keys[0].Name + ":"
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "bench" {
		benchMain(os.Args[2:])
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: transform-oracle <output dir> | transform-oracle bench [-benchtime 300ms] <case>...")
		os.Exit(2)
	}
	dir := os.Args[1]
	must(os.MkdirAll(dir, 0o755))
	tmp, err := os.MkdirTemp("", "transform-oracle")
	must(err)
	defer os.RemoveAll(tmp)
	writeJSON(dir, "kat.json", kats())
	writeJSON(dir, "upstream_random.json", randoms())
	writeJSON(dir, "chain.json", chains(tmp))
	writeJSON(dir, "kmsv2_legacy.json", legacy())
	writeJSON(dir, "kmsv2_proto.json", protoCases())
	writeJSON(dir, "kmsv2_decode.json", decodeCases())
}
