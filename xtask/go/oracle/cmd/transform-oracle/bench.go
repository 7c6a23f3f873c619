package main

// transform-oracle bench: times upstream's own transformers with testing.Benchmark, for
// `cargo xtask bench transformers`, which runs atrest's side (the atrest-transformers
// `sidebyside` example) on the same cases and prints both.
//
// Usage: transform-oracle bench [-benchtime 300ms] <provider>/<op>/<bytes>...
//
// Providers (upstream constructors, k8s.io/apiserver v0.37.2):
//   - aescbc: aes.NewCBCTransformer
//   - aesgcm: aes.NewGCMTransformer
//   - secretbox: secretbox.NewSecretboxTransformer
//   - kmsv2-gcm: aes.NewHKDFExtendedNonceGCMTransformer (the KMS v2 seed-mode DEK transformer)
//   - kmsv2: the whole KMS v2 envelope (kmsv2.NewEnvelopeTransformer behind its
//     k8s:enc:kms:v2:<name>: prefix, seed mode, the Base64 mock plugin), whose read decodes
//     the EncryptedObject protobuf and looks the DEK up in the envelope's cache.
//
// Ops: encrypt (TransformToStorage) and decrypt (TransformFromStorage of one value written
// beforehand, over and over, as upstream's own benchmarks do).
// Keys are 32 bytes (AES-256, the secretbox key, the KMS v2 seed); the AAD is a Secret's
// etcd key; the plaintext is bytes of 0x5a.
//
// One JSON object per case and line on stdout:
//   {"case":"aesgcm/encrypt/1024","ns_per_op":712.4,"iterations":421337}

import (
	"context"
	"crypto/aes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/storage/value"
	aestransformer "k8s.io/apiserver/pkg/storage/value/encrypt/aes"
	secretboxtransformer "k8s.io/apiserver/pkg/storage/value/encrypt/secretbox"
)

type benchResult struct {
	Case       string  `json:"case"`
	NsPerOp    float64 `json:"ns_per_op"`
	Iterations int     `json:"iterations"`
}

// benchKey is the fixed 32-byte key of every case (the same bytes as the Rust side's).
var benchKey = []byte(strings.Repeat("\x42", 32))

var benchAAD = []byte("/registry/secrets/default/secret1")

func benchTransformer(provider string) (value.Transformer, error) {
	switch provider {
	case "aescbc", "aesgcm":
		block, err := aes.NewCipher(benchKey)
		if err != nil {
			return nil, err
		}
		if provider == "aescbc" {
			return aestransformer.NewCBCTransformer(block), nil
		}
		return aestransformer.NewGCMTransformer(block)
	case "secretbox":
		var k [32]byte
		copy(k[:], benchKey)
		return secretboxtransformer.NewSecretboxTransformer(k), nil
	case "kmsv2-gcm":
		return aestransformer.NewHKDFExtendedNonceGCMTransformer(benchKey)
	case "kmsv2":
		return kmsV2Transformer("kms-provider", &base64V2{keyID: "1"}, true), nil
	}
	return nil, fmt.Errorf("unknown provider %q", provider)
}

func benchCase(name string) (benchResult, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return benchResult{}, fmt.Errorf("case %q is not <provider>/<op>/<bytes>", name)
	}
	size, err := strconv.Atoi(parts[2])
	if err != nil {
		return benchResult{}, fmt.Errorf("case %q: size: %w", name, err)
	}
	t, err := benchTransformer(parts[0])
	if err != nil {
		return benchResult{}, err
	}
	ctx := context.Background()
	dataCtx := value.DefaultContext(benchAAD)
	plaintext := []byte(strings.Repeat("\x5a", size))
	stored, err := t.TransformToStorage(ctx, plaintext, dataCtx)
	if err != nil {
		return benchResult{}, fmt.Errorf("case %q: encrypt: %w", name, err)
	}
	var fail error
	var r testing.BenchmarkResult
	switch parts[1] {
	case "encrypt":
		r = testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				if _, err := t.TransformToStorage(ctx, plaintext, dataCtx); err != nil {
					fail = err
				}
			}
		})
	case "decrypt":
		r = testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				if _, _, err := t.TransformFromStorage(ctx, stored, dataCtx); err != nil {
					fail = err
				}
			}
		})
	default:
		return benchResult{}, fmt.Errorf("case %q: op is encrypt or decrypt", name)
	}
	if fail != nil {
		return benchResult{}, fmt.Errorf("case %q: %w", name, fail)
	}
	if r.N == 0 {
		return benchResult{}, fmt.Errorf("case %q: the benchmark did not run", name)
	}
	return benchResult{Case: name, NsPerOp: float64(r.T.Nanoseconds()) / float64(r.N), Iterations: r.N}, nil
}

func benchMain(args []string) {
	testing.Init()
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	benchtime := fs.Duration("benchtime", 300*time.Millisecond, "time per case")
	must(fs.Parse(args))
	// testing.Benchmark reads the -test.benchtime flag.
	must(flag.Set("test.benchtime", benchtime.String()))
	if fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: transform-oracle bench [-benchtime 300ms] <provider>/<op>/<bytes>...")
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	for _, name := range fs.Args() {
		r, err := benchCase(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "transform-oracle bench:", err)
			os.Exit(1)
		}
		must(out.Encode(r))
	}
}
