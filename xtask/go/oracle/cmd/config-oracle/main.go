// Command config-oracle runs upstream k8s.io/apiserver's encryption config loader on files and
// prints the error kube-apiserver would exit with. Placeholder until the oracle is written.
package main

import (
	"context"
	"fmt"
	"os"

	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
)

func main() {
	for _, p := range os.Args[1:] {
		_, err := encryptionconfig.LoadEncryptionConfig(context.Background(), p, false, "oracle")
		fmt.Println(p, err)
	}
}
