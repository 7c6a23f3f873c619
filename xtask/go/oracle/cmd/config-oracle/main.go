// Command config-oracle runs upstream k8s.io/apiserver's encryption configuration loader
// (encryptionconfig.LoadEncryptionConfig, v0.37.2) and a few Go standard-library functions whose
// exact behaviour atrest-config reproduces, and writes the results as test data for
// crates/atrest-config/tests/data.
//
// Usage (from xtask/go/oracle, see crates/atrest-config/tests/data/README.md):
//
//	config-oracle load [-write] FILE...   print (or write as FILE's .expected sibling) the error
//	                                       kube-apiserver would exit with, or "ok"; with -write a
//	                                       valid file also gets a .decoded sibling: the decoded,
//	                                       defaulted internal object as Go's json.Marshal prints it
//	config-oracle vectors DIR             write Go's answers for quoting, durations, base64, URL
//	                                       parsing and JSON string encoding to DIR/*.json
//	config-oracle tables                  print Go's unicode.IsPrint / unicode.ToLower tables as Rust
//	config-oracle kinds                   list the kinds registered in the loader's scheme
//
// Options per file come from its name: "+reload" loads with reload=true (the automatic-reload
// path), "+kmsv1" turns the KMSv1 feature gate on.
package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/apis/apiserver"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/klog/v2"
	sigsyaml "sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: config-oracle load|vectors|tables|kinds ...")
	}
	switch os.Args[1] {
	case "load":
		load(os.Args[2:])
	case "vectors":
		if len(os.Args) != 3 {
			fail("usage: config-oracle vectors DIR")
		}
		vectors(os.Args[2])
	case "tables":
		tables()
	case "kinds":
		kinds()
	default:
		fail("unknown command " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(2)
}

// newScheme mirrors the scheme encryptionconfig builds in its init(), for the .decoded dump only.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := apiserver.AddToScheme(s); err != nil {
		fail(err.Error())
	}
	if err := apiserverv1.AddToScheme(s); err != nil {
		fail(err.Error())
	}
	return s
}

func load(args []string) {
	write := false
	if len(args) > 0 && args[0] == "-write" {
		write = true
		args = args[1:]
	}
	// The loader logs KMS probe failures and deprecation notes; they are not part of the result.
	klog.SetOutput(discard{})
	klog.LogToStderr(false)
	codecs := serializer.NewCodecFactory(newScheme(), serializer.EnableStrict)
	for _, p := range args {
		base := filepath.Base(p)
		reload := strings.Contains(base, "+reload")
		kmsv1 := strings.Contains(base, "+kmsv1")
		if err := utilfeature.DefaultMutableFeatureGate.Set(fmt.Sprintf("KMSv1=%v", kmsv1)); err != nil {
			fail(err.Error())
		}
		ctx, cancel := context.WithCancel(context.Background())
		_, err := encryptionconfig.LoadEncryptionConfig(ctx, p, reload, "oracle")
		cancel()
		text := "ok"
		if err != nil {
			text = err.Error()
		}
		if !write {
			fmt.Printf("== %s\n%s\n", p, text)
			continue
		}
		stem := strings.TrimSuffix(p, filepath.Ext(p))
		if err := os.WriteFile(stem+".expected", []byte(text+"\n"), 0o644); err != nil {
			fail(err.Error())
		}
		if err != nil {
			continue
		}
		data, rerr := os.ReadFile(p)
		if rerr != nil {
			fail(rerr.Error())
		}
		obj, _, derr := codecs.UniversalDecoder().Decode(data, nil, nil)
		if derr != nil {
			fail(derr.Error())
		}
		dump, merr := json.Marshal(obj.(*apiserver.EncryptionConfiguration).Resources)
		if merr != nil {
			fail(merr.Error())
		}
		if err := os.WriteFile(stem+".decoded", append(dump, '\n'), 0o644); err != nil {
			fail(err.Error())
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func kinds() {
	var out []string
	for gvk := range newScheme().AllKnownTypes() {
		out = append(out, gvk.String())
	}
	sort.Strings(out)
	for _, k := range out {
		fmt.Println(k)
	}
}

// vector is one input and Go's answer. Inputs are hex so that arbitrary bytes survive JSON.
type vector struct {
	InputHex string `json:"input_hex"`
	Output   string `json:"output"`
	Error    string `json:"error,omitempty"`
}

func writeVectors(dir, name string, vs []vector) {
	data, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		fail(err.Error())
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(data, '\n'), 0o644); err != nil {
		fail(err.Error())
	}
}

var quoteInputs = []string{
	"", "secrets", "a\"b", "back\\slash", "tab\there", "nl\nx", "cr\rx", "\a\b\f\v", "\x00", "\x1f",
	"\x7f", "é", "日本", "\u00a0", "\u2028", "\u200b", "\ufeff", "\U0001F600", "\U000E0001",
	"\xff", "a\xc3", "\xed\xa0\x80", "\u0378", "\U0010FFFF", "\u061c", "caf\u0301e", "😀x", "<&>",
	"\t", " ", "~", "\u00ad", "\u0085", "\U0001F1E6",
}

var durationInputs = []string{
	"0", "0s", "3s", "1m30s", "1.5s", "-1s", "300ms", "1h", "1h2m3.5s", "1.0000000001s", "-0",
	"+5s", "1us", "1µs", "1μs", "2ns", "1.5h", ".5s", "5.s", "", "abc", "5", "1d", "-", "+",
	"1.s", "9223372036854775807ns", "9223372036854775808ns", "-9223372036854775808ns",
	"2562047h47m16.854775807s", "2562048h", "1e3s", "0.000000001s", "0.0000000001s", "1h-1m",
	"3 s", " 3s", "3s ", "10000000000000000000s", "1.9999999999999999999s", "0x10s", "-0s",
}

var durationFormatNanos = []int64{
	0, 1, 999, 1000, 1500, 999999, 1000000, 1500000, 999999999, 1000000000, 1500000000,
	3000000000, 60000000000, 90000000000, 3600000000000, 3723500000000, -1, -1000000000,
	-90000000000, 9223372036854775807, -9223372036854775808, 100000000000000,
}

var base64Inputs = []string{
	"", "QUJD", "QUI=", "QQ==", "QQ", "QUI", "Q", "QUJDR", "QUJDRA", "QUJDRA=", "QUJDRA==",
	"QUJDRA===", "Q===", "QQ=A", "QQ==QUJD", "QUJD\nQUJD", "QUJD\r\nQUJD", "QU\nJD", "\nQUJD",
	"QUJD\n", "QU=D", "=", "==", "====", "!!!!", "QUJ!", "QUJD!", "QUJD QUJD", "QR==", "QUI=\n",
	"QQ=\n=", "QQ\n==", "c2VjcmV0IGlzIHNlY3VyZQ==", "c2VjcmV0IGlzIHNlY3VyZQ", "${ENCRYPTION_KEY}",
	"<base64-encoded-key>", "QUJD=", "QUJDRA=\n=", "QUJDRA=x", "QUJDRA==x", "-_-_", "QUJD\x00",
	"QQ==\r", "QUI=QUI=", "QUJ\nD=", "Q\r\nQ==",
}

var urlInputs = []string{
	"unix:///tmp/kms.sock", "unix:///@kms", "tcp://localhost:1234", "localhost:1234", "/tmp/sock",
	"unix://", "unix:", "unix:tmp", ":foo", "http://a b", "unix:///tmp/a b", "unix://\x7f",
	"unix:///tmp/%zz", "unix://host:port/x", "unix://[::1/x", "unix://host%zz/x", "1unix:///x",
	"unix:///x\ny", "unix://h:99999/x", "UNIX:///x", "unix:///x#frag", "unix:///x?q=1",
	"unix://user@host/x", "unix://a:b:c/x", "unix://[fe80::1%25en0]/x", "unix://%41/x",
	"unix://[::1]:x/x", "%", "a%", "Unix+Tcp:///x", "a:b", "1:b", "./a:b", "unix://a]b/x",
	"unix://@host/x", "unix://ho st/x", "unix:// /x", "unix://a%20b/x", "unix:///a\tb",
	"unix://[::1]x/x", "unix://[::1]", "unix://h:/x", "unix://h:0/x", "unix://ü/x", "unix://a^b/x",
	"unix://a{b/x", "unix://a|b/x", "unix://a\"b/x", "unix://a`b/x", "*", "unix://[v1.x]/x",
	"unix://%zz@host/x", "unix://us er@host/x", "unix://us%zzer@host/x", "unix://a@b@c/x",
	"unix://a<b/x", "unix://a>b/x", "unix://a\\b/x", "unix://_a/x", "unix://a=b/x",
}

// yamlInputs are whole documents for sigs.k8s.io/yaml's YAMLToJSON (and YAMLToJSONStrict).
var yamlInputs = []string{
	"v: yes", "v: no", "v: on", "v: Off", "v: y", "v: N", "v: true", "v: ~", "v: null", "v: Null",
	"v:", "v: ''", "v: \"null\"", "v: 0x1F", "v: 0o17", "v: 017", "v: 0b101", "v: -0b11",
	"v: 1_000", "v: 1e3", "v: 1.5", "v: .5", "v: -.inf", "v: .nan", "v: +12", "v: -0",
	"v: 2021-01-01", "v: 2021-1-1 10:00:00", "v: 2021-13-01", "v: 12:30", "v: !!str 5",
	"v: !!int 5", "v: !!int x", "v: !!float 1", "v: !!bool yes", "v: !!null ~", "v: !!binary aGk=",
	"v: !foo bar", "v: 3s", "v: 9223372036854775807", "v: 9223372036854775808",
	"v: 18446744073709551616", "v: -9223372036854775809", "v: 1e400", "v: 1e21", "v: 1e-7",
	"v: 123456789.123", "v: 0.1", "v: 0x", "v: 0b", "v: 1__0", "v: +.5", "v: '01'", "v: 08",
	"v: 0o8", "v: 1:20", "b: 1\na: 2\nc: [3, {z: 1, y: 2}]", "1: a\ntrue: b\n1.5: c\n~x: d",
	"a: &x {k: v}\nb: *x", "a: &x {k: v}\nb:\n  <<: *x\n  j: w", "a: [&y 1, *y]", "'a': \"b\"",
	"a: |\n  x\n  y\n", "a: >\n  x\n  y\n", "a: \"\\u00e9\\t<&>\"", "- 1\n- two",
	"hello", "", "# c", "a: 1\na: 2", "a: {b: 1, b: 2}", "? [1, 2]\n: x", "~: x", "a: *nope",
	"a: &s [*s]", "a: !!binary '%%%'", "a: [1, .inf]",
}

var jsonStringInputs = []string{
	"", "a", "\"", "\\", "/", "<>&", "\u2028\u2029", "\x00\x01\x1f", "\x7f", "é", "\xff", "a\xc3",
	"\t\n\r\b\f", "😀", "\ufffd", "\xed\xa0\x80",
}

func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }

func vectors(dir string) {
	var vs []vector
	for _, s := range quoteInputs {
		vs = append(vs, vector{InputHex: hexOf(s), Output: strconv.Quote(s)})
	}
	writeVectors(dir, "quote", vs)

	vs = nil
	for _, s := range durationInputs {
		d, err := time.ParseDuration(s)
		v := vector{InputHex: hexOf(s)}
		if err != nil {
			v.Error = err.Error()
		} else {
			v.Output = strconv.FormatInt(int64(d), 10)
		}
		vs = append(vs, v)
	}
	writeVectors(dir, "duration_parse", vs)

	vs = nil
	for _, n := range durationFormatNanos {
		s := strconv.FormatInt(n, 10)
		vs = append(vs, vector{InputHex: hexOf(s), Output: time.Duration(n).String()})
	}
	writeVectors(dir, "duration_format", vs)

	vs = nil
	for _, s := range base64Inputs {
		decoded, err := base64.StdEncoding.DecodeString(s)
		v := vector{InputHex: hexOf(s)}
		if err != nil {
			v.Error = err.Error()
		} else {
			v.Output = hex.EncodeToString(decoded)
		}
		vs = append(vs, v)
	}
	writeVectors(dir, "base64", vs)

	vs = nil
	for _, s := range urlInputs {
		u, err := url.Parse(s)
		v := vector{InputHex: hexOf(s)}
		if err != nil {
			v.Error = err.Error()
		} else {
			v.Output = u.Scheme
		}
		vs = append(vs, v)
	}
	writeVectors(dir, "url", vs)

	vs = nil
	for _, s := range jsonStringInputs {
		data, err := json.Marshal(s)
		if err != nil {
			fail(err.Error())
		}
		vs = append(vs, vector{InputHex: hexOf(s), Output: string(data)})
	}
	writeVectors(dir, "json_string", vs)

	vs = nil
	for _, s := range yamlInputs {
		v := vector{InputHex: hexOf(s)}
		out, err := sigsyaml.YAMLToJSON([]byte(s))
		if err != nil {
			v.Error = err.Error()
		} else {
			v.Output = string(out)
			if _, serr := sigsyaml.YAMLToJSONStrict([]byte(s)); serr != nil {
				v.Error = "strict: " + serr.Error()
			}
		}
		vs = append(vs, v)
	}
	writeVectors(dir, "yaml_to_json", vs)

	vs = nil
	for _, f := range []float64{0, 1, -1, 1.5, 1000, 1e20, 1e21, 1e-6, 1e-7, 123456789012345678, 0.1, 3e9, -2.5e-10} {
		data, err := json.Marshal(f)
		if err != nil {
			fail(err.Error())
		}
		vs = append(vs, vector{InputHex: hexOf(strconv.FormatFloat(f, 'g', -1, 64)), Output: string(data)})
	}
	writeVectors(dir, "json_float", vs)
}

// tables prints Go's unicode.IsPrint and "unicode.ToLower changes it" sets as Rust range tables.
func tables() {
	printRanges := func(name, doc string, pred func(rune) bool) {
		fmt.Printf("/// %s\npub(crate) const %s: &[(u32, u32)] = &[\n", doc, name)
		start := rune(-1)
		for r := rune(0); r <= unicode.MaxRune+1; r++ {
			in := r <= unicode.MaxRune && pred(r)
			if in && start < 0 {
				start = r
			}
			if !in && start >= 0 {
				fmt.Printf("    (0x%X, 0x%X),\n", start, r-1)
				start = -1
			}
		}
		fmt.Println("];")
	}
	fmt.Printf("// Generated by `config-oracle tables` from Go %s (Unicode %s). Do not edit.\n\n", strings.TrimPrefix(goVersion(), "go"), unicode.Version)
	printRanges("GO_IS_PRINT", "Runes for which Go's `unicode.IsPrint` is true (inclusive ranges).", unicode.IsPrint)
	fmt.Println()
	printRanges("GO_HAS_LOWER", "Runes that Go's `unicode.ToLower` changes (inclusive ranges).", func(r rune) bool { return unicode.ToLower(r) != r })
}

func goVersion() string { return goruntime.Version() }
