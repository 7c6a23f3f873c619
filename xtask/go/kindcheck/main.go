// Command kindcheck decodes kind cluster configs (the files named on its command line)
// strictly with kind's own v1alpha4 types (sigs.k8s.io/kind v0.33.0), and each
// kubeadmConfigPatches entry with kubeadm's own ClusterConfiguration types
// (k8s.io/kubernetes v1.37.2): an unknown or misspelt field anywhere fails. kubeadm 1.37 no
// longer has v1beta3, so a v1beta3 patch (nodes before 1.36) cannot be checked here.
package main

import (
	"fmt"
	"os"

	kubeadmv1beta4 "k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/v1beta4"
	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func check(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cluster kindv1alpha4.Cluster
	if err := yaml.UnmarshalStrict(data, &cluster); err != nil {
		return fmt.Errorf("kind v1alpha4 Cluster: %w", err)
	}
	if cluster.Kind != "Cluster" || cluster.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return fmt.Errorf("kind/apiVersion %q/%q is not kind's Cluster v1alpha4", cluster.Kind, cluster.APIVersion)
	}
	for i, patch := range cluster.KubeadmConfigPatches {
		var meta struct {
			Kind       string `json:"kind"`
			APIVersion string `json:"apiVersion"`
		}
		if err := yaml.Unmarshal([]byte(patch), &meta); err != nil {
			return fmt.Errorf("kubeadmConfigPatches[%d]: %w", i, err)
		}
		if meta.Kind != "ClusterConfiguration" {
			return fmt.Errorf("kubeadmConfigPatches[%d]: kind %q, want ClusterConfiguration", i, meta.Kind)
		}
		var target any
		switch meta.APIVersion {
		case "kubeadm.k8s.io/v1beta4":
			target = &kubeadmv1beta4.ClusterConfiguration{}
		default:
			return fmt.Errorf("kubeadmConfigPatches[%d]: apiVersion %q: these are kubeadm v1.37's types, which read kubeadm.k8s.io/v1beta4", i, meta.APIVersion)
		}
		if err := yaml.UnmarshalStrict([]byte(patch), target); err != nil {
			return fmt.Errorf("kubeadmConfigPatches[%d] as %s ClusterConfiguration: %w", i, meta.APIVersion, err)
		}
	}
	return nil
}

func main() {
	failed := false
	for _, path := range os.Args[1:] {
		if err := check(path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
		} else {
			fmt.Printf("%s: ok\n", path)
		}
	}
	if failed {
		os.Exit(1)
	}
}
