// Command transform-oracle encrypts and decrypts with upstream k8s.io/apiserver transformers.
// Placeholder until the oracle is written.
package main

import (
	"crypto/aes"
	"fmt"

	aestransformer "k8s.io/apiserver/pkg/storage/value/encrypt/aes"
	"k8s.io/apiserver/pkg/storage/value/encrypt/secretbox"
	"k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2"
	"k8s.io/apiserver/pkg/storage/value"
)

func main() {
	block, _ := aes.NewCipher(make([]byte, 32))
	t, _ := aestransformer.NewGCMTransformer(block)
	var _ value.Transformer = t
	var k [32]byte
	_ = secretbox.NewSecretboxTransformer(k)
	_ = kmsv2.GenerateTransformer
	fmt.Println("ok")
}
