// Command kms-oracle checks a KMS v2 plugin's wire against upstream code: kube-apiserver's own
// KMS v2 gRPC client (k8s.io/apiserver pkg/storage/value/encrypt/envelope/kmsv2,
// NewGRPCService, over the generated k8s.io/kms/apis/v2 client) and its kmsv2 envelope
// transformer, both of k8s.io/apiserver v0.37.2.
//
// Usage: kms-oracle < request.json > result.json
//
// The request names the plugin's endpoint, the authenticated data (an etcd key), a plaintext,
// values atrest's envelope wrote through the same plugin (one per DEK source type), and
// endpoints where no plugin listens. The result holds what upstream made of each:
//   - status: the Status response;
//   - encrypt/decrypt: one Encrypt of a fresh 32-byte seed and the Decrypt of its answer;
//   - written: values upstream's envelope wrote (seed and AES-GCM-key mode), which atrest must
//     read back through its own envelope and client;
//   - read_back: those values read by a second upstream envelope (an empty DEK cache, so the
//     seed goes through Decrypt);
//   - atrest_read: the plaintexts upstream's envelope read from atrest's values;
//   - unreachable_errors: grpc-go's error for a Status call against each unreachable endpoint
//     (the apiserver's client waits for a connection until the call deadline).
//
// Byte strings are hex. Errors are recorded as text; the exit status is 0 unless the request
// cannot be read.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/proto"

	"k8s.io/apiserver/pkg/storage/value"
	"k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2"
	kmstypes "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
	kmsservice "k8s.io/kms/pkg/service"
)

type request struct {
	Endpoint      string            `json:"endpoint"`
	Unreachable   map[string]string `json:"unreachable_endpoints"`
	Context       string            `json:"context"`
	PlaintextHex  string            `json:"plaintext_hex"`
	AtrestValues  map[string]string `json:"atrest_values_hex"`
	TimeoutMillis int               `json:"timeout_ms"`
	// "status": one Status call and nothing else (the caller cuts it, or not).
	Mode string `json:"mode,omitempty"`
}

type status struct {
	Version string `json:"version"`
	Healthz string `json:"healthz"`
	KeyID   string `json:"key_id"`
	Error   string `json:"error,omitempty"`
}

type encrypt struct {
	CiphertextLen  int               `json:"ciphertext_len"`
	KeyID          string            `json:"key_id"`
	AnnotationsHex map[string]string `json:"annotations_hex"`
	Error          string            `json:"error,omitempty"`
}

type outcome struct {
	Hex        string `json:"hex,omitempty"`
	SourceType string `json:"source_type,omitempty"`
	Error      string `json:"error,omitempty"`
}

type result struct {
	Status            status             `json:"status"`
	Encrypt           encrypt            `json:"encrypt"`
	DecryptMatches    bool               `json:"decrypt_matches"`
	DecryptError      string             `json:"decrypt_error,omitempty"`
	Written           map[string]outcome `json:"written"`
	ReadBack          map[string]outcome `json:"read_back"`
	AtrestRead        map[string]outcome `json:"atrest_read"`
	UnreachableErrors map[string]string  `json:"unreachable_errors"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kms-oracle:", err)
	os.Exit(2)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// newEnvelope is what kube-apiserver builds per KMS v2 provider: a write state from
// GenerateTransformer (one Encrypt of a fresh DEK or seed) and the envelope transformer.
func newEnvelope(ctx context.Context, svc kmsservice.Service, useSeed bool) (value.Transformer, error) {
	transformer, obj, cacheKey, err := kmsv2.GenerateTransformer(ctx, "kms-oracle-generate", svc, useSeed)
	if err != nil {
		return nil, err
	}
	state := kmsv2.State{
		Transformer:                           transformer,
		EncryptedObjectKeyID:                  obj.KeyID,
		EncryptedObjectEncryptedDEKSource:     obj.EncryptedDEKSource,
		EncryptedObjectAnnotations:            obj.Annotations,
		EncryptedObjectEncryptedDEKSourceType: obj.EncryptedDEKSourceType,
		UID:                                   "kms-oracle",
		ExpirationTimestamp:                   time.Now().Add(time.Hour),
		CacheKey:                              cacheKey,
		KMSProviderName:                       "kms",
	}
	return kmsv2.NewEnvelopeTransformer(svc, "kms", func() (kmsv2.State, error) { return state, nil }, "kms-oracle"), nil
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fail(err)
	}
	plaintext, err := hex.DecodeString(req.PlaintextHex)
	if err != nil {
		fail(err)
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := kmsv2.NewGRPCService(ctx, req.Endpoint, "kms", timeout)
	if err != nil {
		fail(err)
	}
	var res result

	st, err := svc.Status(ctx)
	if err != nil {
		res.Status.Error = err.Error()
	} else {
		res.Status = status{Version: st.Version, Healthz: st.Healthz, KeyID: st.KeyID}
	}
	if req.Mode == "status" {
		if err := json.NewEncoder(os.Stdout).Encode(map[string]status{"status": res.Status}); err != nil {
			fail(err)
		}
		return
	}

	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		fail(err)
	}
	enc, err := svc.Encrypt(ctx, "kms-oracle-encrypt", seed)
	if err != nil {
		res.Encrypt.Error = err.Error()
	} else {
		res.Encrypt = encrypt{CiphertextLen: len(enc.Ciphertext), KeyID: enc.KeyID, AnnotationsHex: map[string]string{}}
		for k, v := range enc.Annotations {
			res.Encrypt.AnnotationsHex[k] = hex.EncodeToString(v)
		}
		dec, err := svc.Decrypt(ctx, "kms-oracle-decrypt", &kmsservice.DecryptRequest{
			Ciphertext: enc.Ciphertext, KeyID: enc.KeyID, Annotations: enc.Annotations,
		})
		res.DecryptError = errText(err)
		res.DecryptMatches = err == nil && hex.EncodeToString(dec) == hex.EncodeToString(seed)
	}

	dataCtx := value.DefaultContext(req.Context)
	res.Written = map[string]outcome{}
	res.ReadBack = map[string]outcome{}
	for name, useSeed := range map[string]bool{"seed": true, "aes-gcm-key": false} {
		writer, err := newEnvelope(ctx, svc, useSeed)
		if err != nil {
			res.Written[name] = outcome{Error: err.Error()}
			continue
		}
		stored, err := writer.TransformToStorage(ctx, plaintext, dataCtx)
		if err != nil {
			res.Written[name] = outcome{Error: err.Error()}
			continue
		}
		// The source type, as upstream's decoder reads it.
		var obj kmstypes.EncryptedObject
		if err := proto.Unmarshal(stored, &obj); err != nil {
			res.Written[name] = outcome{Error: err.Error()}
			continue
		}
		res.Written[name] = outcome{Hex: hex.EncodeToString(stored), SourceType: obj.EncryptedDEKSourceType.String()}
		reader, err := newEnvelope(ctx, svc, useSeed)
		if err != nil {
			res.ReadBack[name] = outcome{Error: err.Error()}
			continue
		}
		read, _, err := reader.TransformFromStorage(ctx, stored, dataCtx)
		if err != nil {
			res.ReadBack[name] = outcome{Error: err.Error()}
		} else {
			res.ReadBack[name] = outcome{Hex: hex.EncodeToString(read)}
		}
	}

	res.AtrestRead = map[string]outcome{}
	reader, err := newEnvelope(ctx, svc, true)
	for name, valueHex := range req.AtrestValues {
		if err != nil {
			res.AtrestRead[name] = outcome{Error: err.Error()}
			continue
		}
		stored, decodeErr := hex.DecodeString(valueHex)
		if decodeErr != nil {
			fail(decodeErr)
		}
		read, _, readErr := reader.TransformFromStorage(ctx, stored, dataCtx)
		if readErr != nil {
			res.AtrestRead[name] = outcome{Error: readErr.Error()}
		} else {
			res.AtrestRead[name] = outcome{Hex: hex.EncodeToString(read)}
		}
	}

	res.UnreachableErrors = map[string]string{}
	for name, endpoint := range req.Unreachable {
		unreachable, err := kmsv2.NewGRPCService(ctx, endpoint, "kms", timeout)
		if err == nil {
			_, err = unreachable.Status(ctx)
		}
		res.UnreachableErrors[name] = errText(err)
	}

	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(res); err != nil {
		fail(err)
	}
}
