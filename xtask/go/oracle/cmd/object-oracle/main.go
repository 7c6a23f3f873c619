// Command object-oracle serializes and deserializes built-in objects exactly as kube-apiserver
// stores them (k8s\x00 + runtime.Unknown protobuf). Placeholder until the oracle is written.
package main

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

func main() {
	s := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	var _ runtime.Serializer = s
	_ = corev1.Secret{}
	fmt.Println("ok")
}
