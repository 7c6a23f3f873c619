//! How steps and data read in reports, and the masking that makes texts comparable across
//! runs and backends.

use super::*;

/// What RFC 3339 times in apiserver texts become (`expired at 2026-12-05T10:00:00Z`): wall
/// times differ between runs and backends, so reports and expectations use this instead.
pub const TIME_MASK: &str = "<time>";

/// Replaces every RFC 3339 time (`2006-01-02T15:04:05Z`, with optional fraction and a `Z` or
/// `±hh:mm` zone) with [`TIME_MASK`].
pub(super) fn mask_times(text: &str) -> String {
    fn digits(b: &[u8], at: usize, n: usize) -> bool {
        b.get(at..at + n).is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        let date_time = digits(b, i, 4)
            && b.get(i + 4) == Some(&b'-')
            && digits(b, i + 5, 2)
            && b.get(i + 7) == Some(&b'-')
            && digits(b, i + 8, 2)
            && b.get(i + 10) == Some(&b'T')
            && digits(b, i + 11, 2)
            && b.get(i + 13) == Some(&b':')
            && digits(b, i + 14, 2)
            && b.get(i + 16) == Some(&b':')
            && digits(b, i + 17, 2);
        if !date_time {
            i += 1;
            continue;
        }
        let mut end = i + 19;
        if b.get(end) == Some(&b'.') && digits(b, end + 1, 1) {
            end += 1;
            while b.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
        }
        let zone = match b.get(end) {
            Some(b'Z') => Some(end + 1),
            Some(b'+' | b'-')
                if digits(b, end + 1, 2)
                    && b.get(end + 3) == Some(&b':')
                    && digits(b, end + 4, 2) =>
            {
                Some(end + 6)
            }
            _ => None,
        };
        match zone {
            Some(end) => {
                out.push_str(&text[copied..i]);
                out.push_str(TIME_MASK);
                (i, copied) = (end, end);
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

pub(super) fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(super) fn describe(step: &Step) -> String {
    let obj = |verb: &str, s: &ObjectStep| {
        let o = s.object().object_ref();
        let via = if s.apiserver == 0 {
            String::new()
        } else {
            format!(" via apiserver {}", s.apiserver)
        };
        match s.count.as_ref().map(|n| n.value) {
            Some(n) => format!(
                "{verb} {n} {} {}/{}-0..{}{via}",
                o.kind.resource(),
                o.namespace,
                o.name,
                n.saturating_sub(1)
            ),
            None => format!("{verb} {} {}/{}{via}", o.kind.name(), o.namespace, o.name),
        }
    };
    let scope = |l: &ListStep| {
        l.namespace
            .as_ref()
            .map_or_else(|| "all namespaces".to_owned(), |n| format!("namespace {n}"))
    };
    match step {
        Step::WriteConfig { config, path, apiserver } => match (path, apiserver) {
            (Some(p), _) => format!("write config {} to {p}", config.value),
            (None, Target::All) => format!("write config {} where the flag points", config.value),
            (None, t) => format!("write config {} where the flag of {t} points", config.value),
        },
        Step::KmsPlugin(k) => match (&k.fault, k.rotate) {
            (Some(f), _) => format!("KMS plugin {}: fault {f:?}", k.name.value),
            (None, true) => format!("KMS plugin {}: rotate its key", k.name.value),
            (None, false) => format!("KMS plugin {}: clear faults", k.name.value),
        },
        Step::Probe(p) => match &p.timeout_seconds {
            None => format!("GET {} of apiserver {}", p.path, p.apiserver),
            Some(_) => format!(
                "poll GET {} of apiserver {} until it answers {}",
                p.path, p.apiserver, p.expect.code.value
            ),
        },
        Step::Wait(w) => format!("let {} s pass", w.seconds.value),
        Step::ExpectKmsCalls(c) => {
            format!(
                "count KMS plugin {}'s Encrypt and Decrypt calls since the last count",
                c.name.value
            )
        }
        Step::WaitForKmsKeyId(w) => format!(
            "wait until {} take{} KMS plugin {}'s current key ID",
            w.apiserver,
            if w.apiserver == Target::All { "" } else { "s" },
            w.name.value
        ),
        Step::WaitForReload(r) => format!(
            "wait until {} {} the file written last",
            r.apiserver,
            match r.expect {
                ReloadExpect::Loaded => "reloaded",
                ReloadExpect::Failed => "failed to reload",
            }
        ),
        Step::RemoveFile { path } => format!("remove {path}"),
        Step::SetFlags { apiserver, encryption_config, automatic_reload, mounts } => {
            let mut parts = Vec::new();
            if let Some(c) = encryption_config {
                parts.push(match c {
                    Some(p) => format!("--encryption-provider-config={p}"),
                    None => "no --encryption-provider-config".to_owned(),
                });
            }
            if let Some(r) = automatic_reload {
                parts.push(format!("--encryption-provider-config-automatic-reload={r}"));
            }
            if let Some(m) = mounts {
                let list: Vec<String> =
                    m.iter().map(|m| format!("{} at {}", m.host_path, m.mount_path)).collect();
                parts.push(format!("mounts [{}]", list.join(", ")));
            }
            format!("set flags of {apiserver}: {}", parts.join(" "))
        }
        Step::Start { apiserver, .. } => format!("start {apiserver}"),
        Step::Stop { apiserver } => format!("stop {apiserver}"),
        Step::Restart { apiserver, .. } => format!("restart {apiserver}"),
        Step::DeleteMirrorPod(m) => {
            format!(
                "kubectl delete pod -n kube-system kube-apiserver-<node> of apiserver {}",
                m.apiserver
            )
        }
        Step::Create(s) => obj("create", s),
        Step::Update(s) => obj("update", s),
        Step::Get(s) => obj("get", s),
        Step::Delete(s) => obj("delete", s),
        Step::List(l) => format!("list {} in {}", l.resource.kind().resource(), scope(l)),
        Step::Rewrite(l) => {
            format!("rewrite every {} in {} (get | replace)", l.resource.kind().name(), scope(l))
        }
        Step::ExpectStored(st) => {
            let o = st.object().object_ref();
            format!("check etcd value of {} {}/{}", o.kind.name(), o.namespace, o.name)
        }
        Step::ExpectAll(all) => format!(
            "check every etcd value of {}{}",
            all.resource.kind().resource(),
            all.namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default()
        ),
        Step::Preflight(p) => {
            format!("preflight: Secrets and ConfigMaps in etcd under config {}", p.config.value)
        }
        Step::Kill(k) => format!("send {} to {}", k.signal.to_backend(), k.member()),
        Step::Pause(m) => {
            format!("pause {} (SIGSTOP)", m.member())
        }
        Step::Resume(m) => {
            format!("resume {} (SIGCONT)", m.member())
        }
        Step::StartMember(m) => {
            format!("start {} again", m.member())
        }
        Step::Fill(f) => format!(
            "create Secrets of {} B in namespace {} until the apiserver refuses one",
            f.bytes.value, f.namespace
        ),
        Step::DeleteAll(d) => {
            format!("delete every {} in namespace {}", d.resource.kind().name(), d.namespace)
        }
        Step::Compact(_) => "compact etcd's history to the current revision".to_owned(),
        Step::Defragment(_) => "defragment etcd".to_owned(),
        Step::DisarmAlarms(_) => "disarm etcd's alarms".to_owned(),
        Step::ExpectAlarms(a) => format!(
            "check etcd's alarms are [{}]",
            a.alarms.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
        ),
        Step::Measure(m) => {
            format!(
                "measure {} creates and gets of {} B Secrets ({})",
                m.objects.value, m.size.value, m.name
            )
        }
    }
}

pub(super) fn describe_data(d: &Data) -> String {
    // Keys and sizes only: values are secrets.
    let parts: Vec<String> = d.0.iter().map(|(k, v)| format!("{k} ({} B)", v.len())).collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_are_masked() {
        assert_eq!(
            mask_times("expired at 2026-12-05T10:00:00Z (current time is 2026-12-05T10:00:01Z)"),
            "expired at <time> (current time is <time>)"
        );
        assert_eq!(mask_times("at 2026-12-05T10:00:00.123+01:00."), "at <time>.");
        // Not a time: no zone, or too short; multi-byte text around it stays.
        assert_eq!(mask_times("2026-12-05T10:00:00 é"), "2026-12-05T10:00:00 é");
        assert_eq!(mask_times("é2026-12-05T10:00Z"), "é2026-12-05T10:00Z");
        assert_eq!(mask_times("é2026-12-05T10:00:00Zé"), "é<time>é");
    }
}
