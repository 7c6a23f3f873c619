//! `atrest scenario` and `atrest scenarios`: exit codes, the three report formats, user configs,
//! and that no key or secret value reaches any output.

use std::fs;

use crate::{atrest, atrest_in, stderr, stdout};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p.display().to_string()
}

const KEY_CONFIG: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n\
resources:\n- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys:\n      - name: mine\n        \
secret: ${key:mine}\n  - identity: {}\n";

#[test]
fn rotate_passes_on_sim_in_every_format() {
    let out = atrest(&["scenario", "rotate"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("PASSED"), "{}", stdout(&out));
    // A progress line per step on stderr.
    assert!(stderr(&out).contains("[18] list secrets in all namespaces"), "{}", stderr(&out));

    let out = atrest(&["scenario", "rotate", "--report", "json"], b"");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["outcome"], "passed");
    assert_eq!(v["backend"], "sim");
    assert_eq!(v["steps"].as_array().unwrap().len(), 18);

    let dir = tempfile::tempdir().unwrap();
    let out = atrest(
        &["scenario", "rotate", "--report", "junit", "--out", dir.path().to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    let xml = stdout(&out);
    assert!(xml.contains("<testsuite name=\"rotate (sim)\" tests=\"18\""), "{xml}");
    for ext in ["txt", "json", "junit.xml"] {
        assert!(dir.path().join(format!("rotate.sim.{ext}")).is_file(), "{ext}");
    }
}

#[test]
fn a_failed_expectation_exits_1_and_says_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "wrong.yaml",
        &format!(
            "description: expects plaintext where aesgcm writes\nconfigs:\n  c: |\n{}\nsteps:\n  \
             - writeConfig: {{config: c}}\n  - start: {{}}\n  - create: {{secret: s, data: {{k: v4lue-secret}}}}\n  \
             - expectStored: {{secret: s, plaintext: true}}\n",
            KEY_CONFIG.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
        ),
    );
    let out = atrest(&["scenario", &file], b"");
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("✗ /registry/secrets/default/s is plaintext in etcd"), "{text}");
    assert!(text.contains("actual:   aesgcm/mine"), "{text}");
    assert!(text.contains("FAILED"), "{text}");
}

#[test]
fn bad_files_and_unexpected_start_failures_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bad.yaml", "description: x\nsteps:\n  - frobnicate: {}\n");
    let out = atrest(&["scenario", &file], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("{file}:3:5: unknown variant `frobnicate`")),
        "{}",
        stderr(&out)
    );

    let out = atrest(&["scenario", "no-such-scenario"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no scenario named \"no-such-scenario\""), "{}", stderr(&out));

    // The flag points at a file nobody wrote and the scenario expected a ready apiserver.
    let file = write(
        dir.path(),
        "no-file.yaml",
        "description: x\nsteps:\n  - start: {}\n  - expectAll: {resource: secrets, plaintext: true}\n",
    );
    let out = atrest(&["scenario", &file], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("harness error: apiserver 0 did not become ready and the scenario did not expect that: exited with code 1: error while parsing file: error while loading file: error reading encryption provider configuration file \"/etc/kubernetes/enc/encryption-config.yaml\""), "{text}");
}

#[test]
fn user_config_binds_to_a_slot_and_nothing_secret_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    // A literal key (base64 of 32 bytes) in the user's file, and a recognisable secret value.
    let literal_key = "bXktdmVyeS1vd24tMzItYnl0ZS1rZXktZm9yLXRlc3Q=";
    let secret_value = "hunter2-do-not-print";
    let user = write(dir.path(), "mine.yaml", &KEY_CONFIG.replace("${key:mine}", literal_key));
    let scenario = write(
        dir.path(),
        "uses-user.yaml",
        &format!(
            "description: the user's config\nconfigs:\n  user: |\n{}\nsteps:\n  \
             - writeConfig: {{config: user}}\n  - start: {{}}\n  - create: {{secret: s, data: {{k: {secret_value}}}}}\n  \
             - get: {{secret: s, expect: {{data: {{k: wrong-on-purpose}}}}}}\n  \
             - expectStored: {{secret: s, provider: aesgcm, key: mine}}\n",
            KEY_CONFIG
                .replace("aesgcm", "aescbc")
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    );
    for format in ["text", "json", "junit"] {
        let out = atrest(&["scenario", &scenario, "--config", &user, "--report", format], b"");
        // The get expectation fails on purpose: its report shows sizes, not values.
        assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(all.contains("aesgcm"), "the user's config was used: {all}");
        assert!(!all.contains(literal_key), "key printed in {format}: {all}");
        assert!(!all.contains(secret_value), "secret value printed in {format}: {all}");
        assert!(!all.contains("wrong-on-purpose"), "expected value printed in {format}: {all}");
    }
    let out = atrest(&["scenario", &scenario, "--config", &format!("nope={user}")], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("has no config named \"nope\""), "{}", stderr(&out));
}

#[test]
fn scenarios_lists_every_shipped_scenario_and_all_pass_on_sim() {
    let out = atrest(&["scenarios"], b"");
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for name in [
        "rotate",
        "wrong-path",
        "wrong-path-mount",
        "missing-restart",
        "identity-first",
        "no-identity-fallback",
        "remove-key-before-rewrite",
        "decrypt-all",
        "configmaps",
        "invalid-key-length",
        "perf-degradation",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name) && l.len() > name.len() + 10),
            "{name}: {text}"
        );
    }
    // What the kind backend cannot run is listed under the scenario, with the reason.
    let under = |name: &str| -> Vec<&str> {
        text.lines()
            .skip_while(|l| !l.starts_with(&format!("{name} ")))
            .skip(1)
            .take_while(|l| l.starts_with(' '))
            .map(str::trim)
            .collect()
    };
    assert_eq!(under("rotate"), Vec::<&str>::new(), "{text}");
    assert_eq!(under("configmaps"), Vec::<&str>::new(), "{text}");
    // setFlags rewrites kubeadm's manifest; the volumes kubeadm has are its own.
    assert_eq!(under("wrong-path-mount"), Vec::<&str>::new(), "{text}");
    assert_eq!(under("decrypt-all"), Vec::<&str>::new(), "{text}");
    assert!(under("rotate-ha")[0].starts_with("not on kind: cluster.apiservers: "), "{text}");
    let out = atrest(&["scenario", "--all"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // From a directory without scenarios/, --dir finds them.
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = crate::root().join("scenarios");
    let out = atrest_in(elsewhere.path(), &["scenarios", "--dir", dir.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0));
}

/// A `setFlags` step whose spec kind cannot mount is listed before any run, with its step,
/// line and reason, as the cluster's own spec is.
#[test]
fn scenarios_lists_set_flags_kind_refuses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flag-beside-pki.yaml"),
        "description: moves the file next to kubeadm's directories
cluster:
  encryptionConfig: /etc/kubernetes/enc/encryption-config.yaml
configs:
  aescbc: {library: aescbc-key1}
steps:
  - writeConfig: {config: aescbc}
  - start: {expect: ready}
  - setFlags: {encryptionConfig: /etc/kubernetes/encryption-config.yaml}
  - writeConfig: {config: aescbc, path: /etc/kubernetes/encryption-config.yaml}
  - restart: {expect: ready}
  - create: {secret: s, data: {k: v}}
  - expectStored: {secret: s, provider: aescbc, key: key1, plaintext: false}
",
    )
    .unwrap();
    let out = atrest(&["scenarios", "--dir", dir.path().to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let reasons: Vec<&str> = text.lines().skip(1).map(str::trim).collect();
    assert_eq!(reasons.len(), 1, "{text}");
    assert!(
        reasons[0].starts_with(
            "not on kind: step 3 (line 9) `setFlags`: the kind backend cannot mount the \
             configuration file's directory /etc/kubernetes at itself"
        ),
        "{text}"
    );
}

/// The main job on the real control plane (real-cluster test group; binaries from `cargo xtask setup`).
#[test]
fn scenario_process_rotate() {
    // Fails loudly, saying what to run, when no control plane was built.
    atrest_process::Assets::locate().unwrap_or_else(|e| panic!("{e}"));
    let out = atrest(&["scenario", "rotate", "--backend", "process", "--report", "json"], b"");
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["backend"], "process");
    assert_eq!(v["outcome"], "passed");
}

/// The main job on the containers backend (real-cluster test group; images from `cargo xtask
/// setup`, DOCKER_HOST from `cargo xtask test`).
#[test]
fn scenario_containers_rotate() {
    // Fails loudly, saying what to run, when no engine or image is there.
    atrest_containers::preflight().unwrap_or_else(|e| panic!("{e}"));
    let out = atrest(&["scenario", "rotate", "--backend", "containers", "--report", "json"], b"");
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["backend"], "containers");
    assert_eq!(v["outcome"], "passed");
}

/// `docker ARGS` against the engine the tests were given; panics with its stderr on failure.
fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs `atrest ARGS` from the workspace root; returns its pid (the containers' owner) and
/// output.
fn atrest_with_pid(args: &[&str]) -> (u32, std::process::Output) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .current_dir(crate::root())
        .env_remove("ATREST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    (pid, child.wait_with_output().unwrap())
}

/// The images of the containers process `pid` created since `since` (unix seconds), from the
/// engine's events (the containers themselves are gone, `--rm`), one per container.
fn images_created_by(pid: u32, since: u64) -> Vec<String> {
    let until =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let format = "{{index .Actor.Attributes \"io.atrest.owner\"}}\t{{.From}}";
    let events = docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "type=container",
        "--filter",
        "event=create",
        "--filter",
        "label=io.atrest.project=1",
        "--format",
        format,
    ]);
    let prefix = format!("{pid} ");
    events
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(owner, _)| owner.starts_with(&prefix))
        .map(|(_, image)| image.to_owned())
        .collect()
}

/// A copy of `image` under `reference` whose own entrypoint cannot run, as a published image's
/// may differ from ours: only the backend's explicit entrypoint makes it work.
fn image_with_a_foreign_entrypoint(image: &str, reference: &str) {
    let created = docker(&["create", image]);
    docker(&[
        "commit",
        "--change",
        "ENTRYPOINT [\"/not-the-binary\"]",
        "--change",
        "CMD []",
        &created,
        reference,
    ]);
    docker(&["rm", &created]);
}

/// Removes the test's image tags, even when an assertion failed.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for r in &self.0 {
            let _ = std::process::Command::new("docker").args(["rmi", r]).output();
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// `--etcd-image` and `--apiserver-image` run the named images (here copies of ours under other
/// names, with an entrypoint that is not the binary, as a published image's may be): the
/// engine's events show every container of the run created from them.
#[test]
fn scenario_containers_image_overrides_are_used() {
    atrest_containers::preflight().unwrap_or_else(|e| panic!("{e}"));
    let me = std::process::id();
    let etcd = format!("atrest-test/etcd:override-{me}");
    let apiserver = format!("atrest-test/kube-apiserver:override-{me}");
    let _cleanup = Images(vec![etcd.clone(), apiserver.clone()]);
    image_with_a_foreign_entrypoint(atrest_containers::ETCD_IMAGE, &etcd);
    image_with_a_foreign_entrypoint(atrest_containers::KUBE_APISERVER_IMAGE, &apiserver);
    let since = unix_now();
    let (pid, out) = atrest_with_pid(&[
        "scenario",
        "missing-restart",
        "--backend",
        "containers",
        "--etcd-image",
        &etcd,
        "--apiserver-image",
        &apiserver,
        "--report",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let mut created = images_created_by(pid, since);
    assert!(created.len() >= 2, "{created:?}");
    created.sort();
    created.dedup();
    let mut expected = vec![etcd.clone(), apiserver.clone()];
    expected.sort();
    assert_eq!(created, expected);
}

/// An override that is not in the engine: exit 2 before anything starts, naming the image and
/// what to do; nothing is pulled and no container is created.
#[test]
fn scenario_containers_missing_image_override_names_it_and_creates_nothing() {
    atrest_containers::preflight().unwrap_or_else(|e| panic!("{e}"));
    let missing = format!("atrest-test/kube-apiserver:missing-{}", std::process::id());
    let since = unix_now();
    let (pid, out) = atrest_with_pid(&[
        "scenario",
        "rotate",
        "--backend",
        "containers",
        "--apiserver-image",
        &missing,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("image {missing} (--apiserver-image) is missing")), "{err}");
    assert!(err.contains(&format!("`docker pull {missing}`")), "{err}");
    assert!(err.contains("cargo xtask setup"), "{err}");
    assert_eq!(images_created_by(pid, since), Vec::<String>::new());
    assert!(docker(&["images", "-q", &missing]).is_empty(), "the image was pulled");
}

/// The image options belong to the containers backend.
#[test]
fn image_overrides_are_refused_on_other_backends() {
    let out = atrest(&["scenario", "rotate", "--etcd-image", "x:1"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--etcd-image and --apiserver-image are for --backend containers"),
        "{}",
        stderr(&out)
    );
}

/// No Docker engine: a harness error (exit 2) that says how to get one, before anything starts.
#[test]
fn scenario_containers_without_an_engine_names_setup() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(["scenario", "rotate", "--backend", "containers"])
        .current_dir(crate::root())
        .env("DOCKER_HOST", "unix:///nonexistent/atrest-docker.sock")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no Docker engine answers"), "{err}");
    assert!(err.contains("cargo xtask setup"), "{err}");
}

/// Runs `atrest` from a directory with no `scenarios/` above it and no `ATREST_SCENARIOS`: the
/// installed binary's situation.
fn atrest_elsewhere(args: &[&str]) -> std::process::Output {
    let elsewhere = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .current_dir(elsewhere.path())
        .env_remove("ATREST_SCENARIOS")
        .env_remove("ATREST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// The shipped scenarios are built into the binary: listed, run and shown from any directory,
/// byte for byte the repository's files.
#[test]
fn builtin_scenarios_work_from_any_directory() {
    let listed = atrest_elsewhere(&["scenarios"]);
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    let in_repo =
        atrest(&["scenarios", "--dir", crate::root().join("scenarios").to_str().unwrap()], b"");
    assert_eq!(stdout(&listed), stdout(&in_repo), "built-in list differs from scenarios/");

    let run = atrest_elsewhere(&["scenario", "rotate", "--report", "json"]);
    assert_eq!(run.status.code(), Some(0), "{}{}", stdout(&run), stderr(&run));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["scenario"], "rotate", "{report}");

    for name in ["rotate", "configmaps", "rotate-ha"] {
        let shown = atrest_elsewhere(&["scenario", "show", name]);
        assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
        let file = std::fs::read(crate::root().join(format!("scenarios/{name}.yaml"))).unwrap();
        assert_eq!(shown.stdout, file, "scenario show {name}");
    }

    let unknown = atrest_elsewhere(&["scenario", "no-such-scenario"]);
    assert_eq!(unknown.status.code(), Some(2));
    let text = stderr(&unknown);
    assert!(
        text.contains("no scenario named \"no-such-scenario\" in the built-in scenarios"),
        "{text}"
    );
    assert!(text.contains("rotate"), "{text}");
    assert_eq!(atrest_elsewhere(&["scenario", "show"]).status.code(), Some(2));
    assert_eq!(atrest_elsewhere(&["scenario", "rotate", "extra"]).status.code(), Some(2));
}

/// A symlink planted where a report goes is refused, and the file it points to is untouched.
#[test]
fn out_refuses_a_symlinked_report() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("rotate.sim.json");
    let target = crate::plant_symlink(&link, "precious");
    let out = atrest(&["scenario", "rotate", "--out", dir.path().to_str().unwrap()], b"");
    crate::assert_symlink_refused(&out, &link, &target, "precious");
}

/// A scenario for a cluster that is already serving, found by its path under the scenarios
/// (built in when no directory is given); on a backend that starts its apiservers it is refused
/// before any step, with the reason. The existing backend's own flags are refused elsewhere.
#[test]
fn an_existing_cluster_scenario_is_refused_on_sim_before_it_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = atrest_in(tmp.path(), &["scenario", "existing/verify-encryption"], b"");
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains(
            "the sim backend cannot run this scenario; nothing was run:\n  the scenario starts \
             no apiserver and the sim backend has none running"
        ),
        "{said}"
    );
    assert!(said.contains("0 steps"), "{said}");
    let out =
        atrest_in(tmp.path(), &["scenario", "rotate", "--etcd", "https://127.0.0.1:2379"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--etcd, --context and --etcd-prefix are for --backend existing")
    );
    let out = atrest_in(tmp.path(), &["scenario", "rotate", "--backend", "existing"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--backend existing needs --kubeconfig FILE (or KUBECONFIG)"));
    // What kind cannot run is refused before kind is even looked for.
    let out = atrest_in(tmp.path(), &["scenario", "rotate-ha", "--backend", "kind"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "scenario rotate-ha cannot run on kind:\n  cluster.apiservers: the scenario needs 2 \
             apiservers, the kind backend has 1"
        ),
        "{}",
        stderr(&out)
    );
}
