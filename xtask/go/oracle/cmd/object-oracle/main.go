// Command object-oracle serializes built-in objects exactly as kube-apiserver stores them
// (k8s\x00 + runtime.Unknown protobuf) using the real upstream code, and prints the results as
// JSON test data for crates/atrest-objects.
//
// For every Secret and ConfigMap case it prints:
//   - encoded_hex: the protobuf serializer's output for the object as given (the bytes the
//     storage codec produces for that object);
//   - stored_hex: the same after k8s.io/apiserver's APIObjectVersioner.PrepareObjectForStorage,
//     which the etcd3 store calls before every write (it clears resourceVersion and selfLink);
//   - json: the object decoded back from encoded_hex by the protobuf serializer and encoded by
//     the apiserver's JSON serializer (what a client such as kubectl receives).
//
// Other cases cover a non-Secret built-in kind (raw bytes only) and a custom resource stored as
// JSON.
//
// Regenerate (from xtask/go/oracle):
//
//	GOFLAGS=-modcacherw GOWORK=off GOTOOLCHAIN=local go run ./cmd/object-oracle \
//	  > ../../../crates/atrest-objects/tests/data/objects.json
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/client-go/kubernetes/scheme"
)

type objectCase struct {
	Name       string          `json:"name"`
	Kind       string          `json:"kind"`
	APIVersion string          `json:"apiVersion"`
	Encoded    string          `json:"encoded_hex"`
	Stored     string          `json:"stored_hex,omitempty"`
	Raw        string          `json:"raw_hex,omitempty"`
	JSON       json.RawMessage `json:"json,omitempty"`
}

// timeCase is metav1.Time's JSON form of time.Unix(seconds, 0).
type timeCase struct {
	Seconds int64           `json:"seconds"`
	JSON    json.RawMessage `json:"json"`
}

type output struct {
	Generator string       `json:"generator"`
	Cases     []objectCase `json:"cases"`
	Times     []timeCase   `json:"times"`
}

var (
	protoSerializer = protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	jsonSerializer  = jsonserializer.NewSerializerWithOptions(jsonserializer.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, jsonserializer.SerializerOptions{})
)

func must[T any](v T, err error) T {
	if err != nil {
		fmt.Fprintln(os.Stderr, "object-oracle:", err)
		os.Exit(1)
	}
	return v
}

// encode runs obj through the storage-shaped codec: conversion to the v1/apps-v1 storage version
// sets apiVersion/kind, then the protobuf serializer writes k8s\x00 + runtime.Unknown.
func encode(obj runtime.Object, gv schema.GroupVersion) []byte {
	codec := scheme.Codecs.EncoderForVersion(protoSerializer, gv)
	return must(runtime.Encode(codec, obj))
}

func builtinCase(name string, obj runtime.Object) objectCase {
	gvks, _ := must2(scheme.Scheme.ObjectKinds(obj))
	gvk := gvks[0]
	encoded := encode(obj.DeepCopyObject(), gvk.GroupVersion())

	prepared := obj.DeepCopyObject()
	if err := (storage.APIObjectVersioner{}).PrepareObjectForStorage(prepared); err != nil {
		must[any](nil, err)
	}
	stored := encode(prepared, gvk.GroupVersion())

	decoded, _ := must2(protoSerializer.Decode(encoded, nil, nil))
	jsonCodec := scheme.Codecs.EncoderForVersion(jsonSerializer, gvk.GroupVersion())
	jsonBytes := must(runtime.Encode(jsonCodec, decoded))

	return objectCase{
		Name:       name,
		Kind:       gvk.Kind,
		APIVersion: gvk.GroupVersion().String(),
		Encoded:    hex.EncodeToString(encoded),
		Stored:     hex.EncodeToString(stored),
		JSON:       json.RawMessage(bytes.TrimSpace(jsonBytes)),
	}
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "object-oracle:", err)
		os.Exit(1)
	}
	return a, b
}

// largeValue is a deterministic 20000-byte value (its length needs a 3-byte varint).
func largeValue() []byte {
	v := make([]byte, 20000)
	for i := range v {
		v[i] = byte((i*7 + 3) % 256)
	}
	return v
}

func secretFull() *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:              "db-credentials",
			Namespace:         "default",
			UID:               "4f6c1e2a-8d3b-4c1e-9a7f-2b5d6e8f0a1c",
			ResourceVersion:   "12345",
			CreationTimestamp: metav1.NewTime(time.Unix(1700000000, 123456789)),
			Labels:            map[string]string{},
			Annotations:       map[string]string{},
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager:    "kubectl-client-side-apply",
				Operation:  metav1.ManagedFieldsOperationUpdate,
				APIVersion: "v1",
				Time:       ptrTo(metav1.NewTime(time.Unix(1700000000, 0))),
				FieldsType: "FieldsV1",
				FieldsV1:   metav1.NewFieldsV1(`{"f:data":{".":{},"f:password":{},"f:username":{}},"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:type":{}}`),
			}},
		},
		Data: map[string][]byte{},
		Type: corev1.SecretTypeOpaque,
	}
	// Insertion order is deliberately unsorted; Go maps have no order and the marshaler sorts.
	s.Labels["tier"] = "backend"
	s.Labels["app"] = "db"
	s.Labels["a-empty"] = ""
	s.Annotations["note"] = "rotated"
	s.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = `{"apiVersion":"v1","kind":"Secret"}`
	s.Data["username"] = []byte("admin")
	s.Data["password"] = []byte("s3cr3t-p@ss")
	s.Data["Z-upper"] = []byte("upper case sorts first")
	s.Data["empty"] = []byte{}
	s.Data[".dotfile"] = []byte{0x00, 0xff, 0x10}
	s.Immutable = ptrTo(true)
	return s
}

func secretMinimal() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s1", Namespace: "default"},
		Data:       map[string][]byte{"k": []byte("v")},
	}
}

func secretExtras() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:                       "tls-cert",
			GenerateName:               "tls-",
			Namespace:                  "kube-system",
			SelfLink:                   "/api/v1/namespaces/kube-system/secrets/tls-cert",
			UID:                        "00000000-0000-0000-0000-000000000001",
			ResourceVersion:            "9",
			Generation:                 3,
			CreationTimestamp:          metav1.NewTime(time.Unix(0, 0)),
			DeletionTimestamp:          ptrTo(metav1.NewTime(time.Unix(1800000000, 0))),
			DeletionGracePeriodSeconds: ptrTo[int64](30),
			OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "11111111-2222-3333-4444-555555555555", Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(false)},
				{APIVersion: "v1", Kind: "ConfigMap", Name: "cfg", UID: "66666666-7777-8888-9999-000000000000"},
			},
			Finalizers: []string{"kubernetes", "example.com/cleanup"},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "controller", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "v1", Subresource: "status"},
			},
		},
		Data: map[string][]byte{
			"tls.key": largeValue(),
			"tls.crt": []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		},
		StringData: map[string]string{"b": "2", "a": "1"},
		Type:       corev1.SecretTypeTLS,
		Immutable:  ptrTo(false),
	}
}

// secretEdges covers zero values behind pointers, empty keys and negative numbers.
func secretEdges() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:                       "edges",
			Generation:                 -5,
			DeletionTimestamp:          &metav1.Time{},
			DeletionGracePeriodSeconds: ptrTo[int64](0),
			Labels:                     map[string]string{"": "empty-key"},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "m", Time: &metav1.Time{}, FieldsV1: &metav1.FieldsV1{}},
				{Time: ptrTo(metav1.NewTime(time.Unix(-1, 0)))},
			},
		},
		Data: map[string][]byte{"": []byte("empty key")},
		Type: corev1.SecretTypeServiceAccountToken,
	}
}

func configMapFull() *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:              "game-config",
			Namespace:         "apps",
			UID:               "a1b2c3d4-e5f6-4789-abcd-ef0123456789",
			ResourceVersion:   "777",
			CreationTimestamp: metav1.NewTime(time.Unix(1650000000, 0)),
			Labels:            map[string]string{"z": "last", "app.kubernetes.io/name": "game"},
			Annotations:       map[string]string{"description": "ünïcödé ✓"},
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager:    "kubectl-create",
				Operation:  metav1.ManagedFieldsOperationUpdate,
				APIVersion: "v1",
				Time:       ptrTo(metav1.NewTime(time.Unix(1650000000, 0))),
				FieldsType: "FieldsV1",
				FieldsV1:   metav1.NewFieldsV1(`{"f:binaryData":{".":{},"f:blob":{}},"f:data":{".":{},"f:game.properties":{}}}`),
			}},
		},
		Data:       map[string]string{},
		BinaryData: map[string][]byte{},
		Immutable:  ptrTo(true),
	}
	cm.Data["ui.properties"] = "color.good=purple\ncolor.bad=yellow\n"
	cm.Data["game.properties"] = "enemies=aliens\nlives=3\n"
	cm.Data["empty"] = ""
	cm.BinaryData["blob"] = []byte{0x00, 0x01, 0x02, 0xfe, 0xff}
	cm.BinaryData["empty-bin"] = []byte{}
	return cm
}

func configMapMinimal() *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "default"}}
}

func deployment() objectCase {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptrTo[int32](2)},
	}
	encoded := encode(d.DeepCopyObject(), appsv1.SchemeGroupVersion)
	d.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))
	raw := must(d.Marshal())
	decoded, _ := must2(protoSerializer.Decode(encoded, nil, nil))
	jsonCodec := scheme.Codecs.EncoderForVersion(jsonSerializer, appsv1.SchemeGroupVersion)
	jsonBytes := must(runtime.Encode(jsonCodec, decoded))
	return objectCase{
		Name:       "deployment",
		Kind:       "Deployment",
		APIVersion: "apps/v1",
		Encoded:    hex.EncodeToString(encoded),
		Raw:        hex.EncodeToString(raw),
		JSON:       json.RawMessage(bytes.TrimSpace(jsonBytes)),
	}
}

func customResource() objectCase {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "stable.example.com/v1",
		"kind":       "CronTab",
		"metadata":   map[string]any{"name": "my-cron", "namespace": "default"},
		"spec":       map[string]any{"cronSpec": "* * * * */5", "image": "my-cron-image"},
	}}
	var buf strings.Builder
	if err := unstructured.UnstructuredJSONScheme.Encode(u, &buf); err != nil {
		must[any](nil, err)
	}
	return objectCase{
		Name:       "custom-resource",
		Kind:       "CronTab",
		APIVersion: "stable.example.com/v1",
		Encoded:    hex.EncodeToString([]byte(buf.String())),
	}
}

func times() []timeCase {
	seconds := []int64{
		0, -1, 1700000000, 951782400, 4107542400, 253402300799, 253402300800,
		-62135596800, -62135596801, -62167219200, -62167219201, -62198755201,
	}
	out := make([]timeCase, 0, len(seconds))
	for _, s := range seconds {
		t := metav1.NewTime(time.Unix(s, 0))
		out = append(out, timeCase{Seconds: s, JSON: must(t.MarshalJSON())})
	}
	return out
}

func main() {
	out := output{
		Generator: "xtask/go/oracle/cmd/object-oracle: k8s.io/api, k8s.io/apimachinery, k8s.io/apiserver v0.37.2",
		Cases: []objectCase{
			builtinCase("secret-full", secretFull()),
			builtinCase("secret-minimal", secretMinimal()),
			builtinCase("secret-extras", secretExtras()),
			builtinCase("secret-edges", secretEdges()),
			builtinCase("configmap-full", configMapFull()),
			builtinCase("configmap-minimal", configMapMinimal()),
			deployment(),
			customResource(),
		},
		Times: times(),
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		must[any](nil, err)
	}
}

func ptrTo[T any](v T) *T { return &v }
