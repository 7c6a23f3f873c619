//! Commands: kind itself, and `docker exec` into the control-plane node (the kubelet's manifest
//! directory, containerd's view of the apiserver's containers, their CRI logs).

use std::path::Path;
use std::process::Stdio;

use crate::KindError;

/// Where the kubelet reads static pods from, and where a stopped apiserver's manifest waits.
pub(crate) const MANIFEST: &str = "/etc/kubernetes/manifests/kube-apiserver.yaml";
pub(crate) const PARKED: &str = "/etc/kubernetes/kube-apiserver.yaml.atrest-stopped";

/// Runs `program args…` and returns its stdout; a failure names the command and its stderr.
pub(crate) async fn output(
    program: &Path,
    args: &[&str],
    cwd: Option<&Path>,
) -> Result<String, KindError> {
    run(program, args, cwd, None).await
}

/// [`output`], with `input` on the command's stdin when given (its stdin is empty otherwise).
async fn run(
    program: &Path,
    args: &[&str],
    cwd: Option<&Path>,
    input: Option<&[u8]>,
) -> Result<String, KindError> {
    use tokio::io::AsyncWriteExt as _;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let shown = || {
        let name = program.file_name().map_or(program.as_os_str(), |n| n).to_string_lossy();
        format!("{name} {}", args.join(" "))
    };
    let mut child = cmd.spawn().map_err(|source| KindError::Spawn { command: shown(), source })?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A write that fails shows in the exit status and stderr below.
        let _ = stdin.write_all(input).await;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| KindError::Spawn { command: shown(), source })?;
    if !out.status.success() {
        return Err(KindError::Command {
            command: shown(),
            status: out.status.to_string(),
            stderr: tail(&String::from_utf8_lossy(&out.stderr), 20),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A shell script in the node (`docker exec NODE sh -c SCRIPT`).
pub(crate) async fn exec(node: &str, script: &str) -> Result<String, KindError> {
    output(Path::new("docker"), &["exec", node, "sh", "-c", script], None).await
}

/// Writes `contents` to `path` in the node (through `docker exec -i`: nothing lands on the
/// host). `path` is one of this crate's constants, never a scenario's.
pub(crate) async fn write(node: &str, path: &str, contents: &[u8]) -> Result<(), KindError> {
    let script = format!("cat > {path}.atrest-new && mv {path}.atrest-new {path}");
    let args = ["exec", "-i", node, "sh", "-c", &script];
    run(Path::new("docker"), &args, None, Some(contents)).await.map(drop)
}

/// The state of one of the apiserver's containers, as containerd has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Container {
    /// containerd's (and the CRI's) container id.
    pub(crate) id: String,
    /// Its task's status (`RUNNING`, `STOPPED`, …), `None` when it has no task (not started, or
    /// already cleaned up).
    pub(crate) status: Option<String>,
}

/// Lists the containers `filter` (a `ctr containers ls` filter) selects, with their tasks'
/// states. Each `ctr` runs on its own line under `set -e`, so a failing one fails the script
/// instead of listing nothing.
fn list_script(filter: &str) -> String {
    format!(
        r#"set -e
ids=$(ctr -n k8s.io containers ls -q '{filter}')
tasks=$(ctr -n k8s.io tasks ls)
for id in $ids; do
  echo "$id $(echo "$tasks" | awk -v id="$id" '$1 == id {{ print $3 }}')"
done"#
    )
}

/// The filter of the apiserver's containers (the kubelet's label on each).
const APISERVER_CONTAINERS: &str = r#"labels."io.kubernetes.container.name"==kube-apiserver"#;

/// The filter of the apiserver's pods' sandboxes on node `node` (a static pod is named
/// `<name>-<node>`; containerd labels sandboxes with their kind).
fn apiserver_sandboxes_filter(node: &str) -> String {
    format!(
        r#"labels."io.cri-containerd.kind"==sandbox,labels."io.kubernetes.pod.name"==kube-apiserver-{node}"#
    )
}

/// The apiserver's containers.
pub(crate) async fn apiserver_containers(node: &str) -> Result<Vec<Container>, KindError> {
    Ok(parse_containers(&exec(node, &list_script(APISERVER_CONTAINERS)).await?))
}

/// The sandboxes (pause containers) of the apiserver's pods: the kubelet stops a pod's sandbox
/// last, once it will start no container in it any more. `node` is also the node's name.
pub(crate) async fn apiserver_sandboxes(node: &str) -> Result<Vec<Container>, KindError> {
    let script = list_script(&apiserver_sandboxes_filter(node));
    Ok(parse_containers(&exec(node, &script).await?))
}

pub(crate) fn parse_containers(text: &str) -> Vec<Container> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let id = fields.next()?.to_owned();
            let status = fields.next().map(str::to_owned);
            Some(Container { id, status })
        })
        .collect()
}

/// The container's log as the kubelet keeps it (`/var/log/containers/<pod>_<namespace>_<name>-
/// <id>.log`), turned back into the process's own output: CRI lines are `<time> <stream> <P|F>
/// <text>`, where `P` marks a line the runtime split. `None` when there is none (yet, or any
/// more: the kubelet removes it with the container).
pub(crate) async fn container_log(node: &str, id: &str) -> Result<Option<String>, KindError> {
    // The id is containerd's hex; nothing else reaches the shell.
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let script = format!(
        "for f in /var/log/containers/*_kube-system_kube-apiserver-{id}.log; do \
         if [ -e \"$f\" ]; then cat \"$f\"; exit 0; fi; done; echo none >&2; exit 3"
    );
    match exec(node, &script).await {
        Ok(raw) => Ok(Some(cri_to_text(&raw))),
        Err(KindError::Command { stderr, .. }) if stderr.trim() == "none" => Ok(None),
        Err(e) => Err(e),
    }
}

/// The exit code containerd's CRI plugin recorded for container `id` (its checkpoint
/// `/var/lib/containerd/io.containerd.grpc.v1.cri/containers/<id>/status`, which the kubelet's
/// container status comes from): `None` while it has not finished, or without a checkpoint.
pub(crate) async fn exit_code(node: &str, id: &str) -> Result<Option<i32>, KindError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let script = format!(
        "f=/var/lib/containerd/io.containerd.grpc.v1.cri/containers/{id}/status; \
         if [ -e $f ]; then cat $f; fi"
    );
    Ok(parse_exit_code(&exec(node, &script).await?))
}

/// [`exit_code`] of a checkpoint's text: `ExitCode` once `FinishedAt` is set.
pub(crate) fn parse_exit_code(status: &str) -> Option<i32> {
    let v: serde_json::Value = serde_json::from_str(status).ok()?;
    if v.get("FinishedAt")?.as_i64()? == 0 {
        return None;
    }
    i32::try_from(v.get("ExitCode")?.as_i64()?).ok()
}

pub(crate) fn cri_to_text(raw: &str) -> String {
    let mut out = String::new();
    for line in raw.lines() {
        let mut parts = line.splitn(4, ' ');
        let (_time, _stream, tag) = (parts.next(), parts.next(), parts.next());
        let text = parts.next().unwrap_or("");
        out.push_str(text);
        if tag != Some("P") {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_with_and_without_tasks() {
        let got = parse_containers("abc RUNNING\ndef STOPPED\n0123 \n");
        assert_eq!(
            got,
            vec![
                Container { id: "abc".into(), status: Some("RUNNING".into()) },
                Container { id: "def".into(), status: Some("STOPPED".into()) },
                Container { id: "0123".into(), status: None },
            ]
        );
    }

    #[test]
    fn cri_lines_become_the_processs_output() {
        let raw = "2026-12-06T06:00:00.1Z stderr F E1206 first\n\
                   2026-12-06T06:00:00.2Z stderr P part one \n\
                   2026-12-06T06:00:00.2Z stderr F and two\n";
        assert_eq!(cri_to_text(raw), "E1206 first\npart one and two\n");
    }

    #[test]
    fn exit_codes_come_from_finished_checkpoints() {
        let running = r#"{"Version":"v1","Pid":1506,"StartedAt":1,"FinishedAt":0,"ExitCode":0}"#;
        assert_eq!(parse_exit_code(running), None);
        let exited =
            r#"{"Version":"v1","Pid":0,"FinishedAt":1796551305,"ExitCode":1,"Reason":"Error"}"#;
        assert_eq!(parse_exit_code(exited), Some(1));
        assert_eq!(parse_exit_code(""), None);
    }

    /// The filters as `ctr` takes them (checked against a live kind v0.33 node: the sandbox of
    /// `kube-apiserver-<node>` carries both labels).
    #[test]
    fn list_scripts_select_by_label() {
        let sandboxes = list_script(&apiserver_sandboxes_filter("atrest-1-2-0-control-plane"));
        assert!(
            sandboxes.contains(
                r#"ctr -n k8s.io containers ls -q 'labels."io.cri-containerd.kind"==sandbox,labels."io.kubernetes.pod.name"==kube-apiserver-atrest-1-2-0-control-plane'"#
            ),
            "{sandboxes}"
        );
        let containers = list_script(APISERVER_CONTAINERS);
        assert!(containers.starts_with("set -e\n"), "{containers}");
        assert!(containers.contains(r#"awk -v id="$id" '$1 == id { print $3 }'"#), "{containers}");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("", 2), "");
    }
}
