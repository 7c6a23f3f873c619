// runcwrap is the default runtime of the engines the project starts itself (its own dockerd, and
// the private one of `cargo xtask kind-node-image --verify`), and of no other engine: Docker
// 20.10 asks runc for every capability for a --privileged container (kind's nodes), and runc
// fails ("unable to apply caps: operation not permitted") when one is missing from the host's
// bounding set (this sandbox lacks CAP_SYS_RESOURCE). It removes the capabilities the host does
// not have from the bundle's config.json on create/run and from the --process file on exec, then
// execs the real runc, whose path is in the file next to this program named like it plus ".runc"
// (dockerd's --add-runtime takes a path, no arguments). Where the host has every capability, or
// a container asks for none it lacks, it changes nothing.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// capNames are the capabilities by number, as in linux/capability.h.
var capNames = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL",
	"SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
	"NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT",
	"SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
	"SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
	"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
	"PERFMON", "BPF", "CHECKPOINT_RESTORE"}

// missing returns the capabilities absent from this process's bounding set.
func missing() (map[string]bool, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if hex, ok := strings.CutPrefix(s.Text(), "CapBnd:"); ok {
			bnd, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			if err != nil {
				return nil, err
			}
			out := map[string]bool{}
			for i, name := range capNames {
				if bnd&(1<<uint(i)) == 0 {
					out["CAP_"+name] = true
				}
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// filter removes the capabilities in drop from every set of the process spec in the JSON file
// at path; root finds the process spec (the object holding "capabilities") in the document.
func filter(path string, root func(map[string]any) map[string]any, drop map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	proc := root(doc)
	if proc == nil {
		return nil
	}
	caps, _ := proc["capabilities"].(map[string]any)
	for set, list := range caps {
		names, _ := list.([]any)
		kept := []any{}
		for _, n := range names {
			if s, _ := n.(string); !drop[s] {
				kept = append(kept, n)
			}
		}
		caps[set] = kept
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, info.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func main() {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runcwrap: %v\n", err)
		os.Exit(127)
	}
	named, err := os.ReadFile(self + ".runc")
	if err != nil {
		fmt.Fprintf(os.Stderr, "runcwrap: the real runc's path: %v\n", err)
		os.Exit(127)
	}
	real := strings.TrimSpace(string(named))
	args := os.Args[1:]
	cmd, bundle, process := "", ".", ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				return args[i+1]
			}
			return ""
		}
		switch {
		case cmd == "" && (a == "create" || a == "run" || a == "exec"):
			cmd = a
		case a == "--bundle" || a == "-b":
			bundle = next()
		case strings.HasPrefix(a, "--bundle="):
			bundle = strings.TrimPrefix(a, "--bundle=")
		case a == "--process" || a == "-p":
			process = next()
		case strings.HasPrefix(a, "--process="):
			process = strings.TrimPrefix(a, "--process=")
		}
	}
	drop, err := missing()
	if err == nil && len(drop) > 0 {
		// Filtered in place: dockerd writes these files for this one call.
		switch {
		case cmd == "create" || cmd == "run":
			err = filter(bundle+"/config.json", func(d map[string]any) map[string]any {
				p, _ := d["process"].(map[string]any)
				return p
			}, drop)
		case cmd == "exec" && process != "":
			err = filter(process, func(d map[string]any) map[string]any { return d }, drop)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "runcwrap: %v\n", err)
		os.Exit(127)
	}
	argv := append([]string{real}, args...)
	if err := syscall.Exec(real, argv, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runcwrap: exec %s: %v\n", real, err)
		os.Exit(127)
	}
}
