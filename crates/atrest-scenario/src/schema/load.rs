//! Loading: decode the file, then check what serde cannot (references, bounds, templates,
//! names), each error at `file:line:col`.

use super::*;

/// Reads and checks a scenario file (at most [`SCENARIO_LIMIT`]).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text =
        atrest_input::read_limited_to_string(path, SCENARIO_LIMIT).map_err(ScenarioError::Read)?;
    parse(path, &text)
}

/// Checks a scenario given as text (`path` names it in errors and anchors `file:` configs,
/// which are read from disk, at most [`CONFIG_LIMIT`] each).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    parse_with(path, text, |file| {
        atrest_input::read_limited_to_string(file, CONFIG_LIMIT).map_err(InputError::into_io_error)
    })
}

/// As [`parse`], with `file:` configs read through `read` (given `path`'s directory joined with
/// the file name): scenarios embedded in a binary read their configs from the binary too.
pub fn parse_with(
    path: &Path,
    text: &str,
    read: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<Scenario, ScenarioError> {
    let file: ScenarioFile = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
        // The rendered error carries a source snippet; the first line is the message.
        let message = e.without_snippet().to_string();
        let message = message.lines().next().unwrap_or("invalid scenario").trim();
        // The location is printed in front already.
        let message = match message.rfind(" at line ") {
            Some(i) if message[i..].contains(", column ") => &message[..i],
            _ => message,
        };
        // serde lists the expected fields; a step without any (`compact: {}`) gets an empty list.
        let message = match message.trim_end().strip_suffix(", expected one of") {
            Some(head) => format!("{head}; the step takes none"),
            None => message.to_owned(),
        };
        ScenarioError::at(path, line, column, message)
    })?;
    let name = path
        .file_stem()
        .map_or_else(|| "scenario".to_owned(), |s| s.to_string_lossy().into_owned());
    let base = path.parent().unwrap_or(Path::new("."));
    let mut configs = BTreeMap::new();
    // Placeholders are checked here, so that a wrong one is reported at its place in the file.
    let mut placeholders = Secrets::default();
    for (cname, def) in file.configs {
        let (line, column) = (def.referenced.line(), def.referenced.column());
        let text = match def.value {
            ConfigDef::Inline(t) => {
                placeholders.check(&t).map_err(|e| {
                    let value_at =
                        def.referenced.span().byte_offset().and_then(|o| usize::try_from(o).ok());
                    let (l, c) = inline_position(text, value_at, &t, &e).unwrap_or((line, column));
                    ScenarioError::at(path, l, c, format!("config {cname:?}: {e}"))
                })?;
                t
            }
            ConfigDef::Library { library: lib } => {
                let Some((_, t)) = library::LIBRARY.iter().find(|(n, _)| *n == lib) else {
                    return Err(ScenarioError::at(
                        path,
                        line,
                        column,
                        format!(
                            "config {cname:?}: no library config named {lib:?} (the library: {})",
                            library::LIBRARY.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                };
                placeholders.check(t).map_err(|e| {
                    let (l, c) = template::line_col(t, e.offset().unwrap_or(0));
                    let full = Path::new(LIBRARY_DIR).join(format!("{lib}.yaml"));
                    ScenarioError::at(&full, l, c, format!("config {cname:?}: {e}"))
                })?;
                (*t).to_owned()
            }
            ConfigDef::File { file } => {
                let full = base.join(&file);
                let t = read(&full).map_err(|e| {
                    ScenarioError::at(
                        path,
                        line,
                        column,
                        format!("config {cname:?}: cannot read {file}: {e}"),
                    )
                })?;
                placeholders.check(&t).map_err(|e| {
                    let (l, c) = template::line_col(&t, e.offset().unwrap_or(0));
                    ScenarioError::at(&full, l, c, format!("config {cname:?}: {e}"))
                })?;
                t
            }
        };
        configs.insert(cname, text);
    }
    let apiservers = &file.cluster.apiservers;
    if apiservers.value == 0 {
        return Err(ScenarioError::at(
            path,
            apiservers.referenced.line(),
            apiservers.referenced.column(),
            "cluster.apiservers must be at least 1",
        ));
    }
    at_most(path, "cluster.apiservers", apiservers, MAX_APISERVERS)?;
    let apiservers = apiservers.value;
    let plugins = check_kms_plugins(path, &file.cluster.kms_plugins, &configs)?;
    if let Some(mounts) = &file.cluster.mounts
        && let Some(problem) = mounts_problem(&mounts.value)
    {
        let at = &mounts.referenced;
        return Err(ScenarioError::at(path, at.line(), at.column(), format!("cluster.{problem}")));
    }
    let mut expectations = 0;
    let mut steps = Vec::new();
    let mut names: BTreeMap<String, u64> = BTreeMap::new();
    for placed in file.steps {
        let (line, column) = (placed.referenced.line(), placed.referenced.column());
        let StepEntry { name, step } = placed.value;
        if let Some(n) = &name {
            check_step_name(path, n, &mut names)?;
        }
        let at = |m: String| ScenarioError::at(path, line, column, m);
        let check_config = |c: &Spanned<String>| {
            if configs.contains_key(&c.value) {
                Ok(())
            } else {
                Err(ScenarioError::at(
                    path,
                    c.referenced.line(),
                    c.referenced.column(),
                    format!(
                        "no config named {:?} (defined: {})",
                        c.value,
                        configs.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                    ),
                ))
            }
        };
        let check_plugin = |n: &Spanned<String>| {
            if plugins.contains(&n.value) {
                Ok(())
            } else {
                Err(ScenarioError::at(
                    path,
                    n.referenced.line(),
                    n.referenced.column(),
                    if plugins.is_empty() {
                        format!("no KMS plugin named {:?}: cluster.kmsPlugins is empty", n.value)
                    } else {
                        format!(
                            "no KMS plugin named {:?} in cluster.kmsPlugins (defined: {})",
                            n.value,
                            plugins.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
                        )
                    },
                ))
            }
        };
        let check_target = |t: Target| match t {
            Target::One(i) if i >= apiservers => {
                Err(at(format!("apiserver {i} does not exist (the cluster has {apiservers})")))
            }
            _ => Ok(()),
        };
        let kind = step.kind();
        match &step {
            Step::WriteConfig { config, apiserver, .. } => {
                check_config(config)?;
                check_target(*apiserver)?;
            }
            Step::RemoveFile { .. } => {}
            Step::Kill(KillStep { member, apiserver, kms_plugin, .. })
            | Step::StartMember(MemberStep { member, apiserver, kms_plugin })
            | Step::Pause(MemberStep { member, apiserver, kms_plugin })
            | Step::Resume(MemberStep { member, apiserver, kms_plugin }) => {
                match (member, apiserver, kms_plugin) {
                    (Some(_), None, None) => {}
                    (None, Some(i), None) => check_target(Target::One(*i))?,
                    (None, None, Some(name)) => check_plugin(name)?,
                    _ => {
                        return Err(at(format!(
                            "{kind}: give exactly one of `member: etcd`, `apiserver: N` or \
                             `kmsPlugin: NAME`"
                        )));
                    }
                }
            }
            Step::Fill(f) => {
                check_target(Target::One(f.apiserver))?;
                if f.bytes.value == 0 {
                    return Err(ScenarioError::at(
                        path,
                        f.bytes.referenced.line(),
                        f.bytes.referenced.column(),
                        "fill.bytes must be at least 1",
                    ));
                }
                at_most(path, "fill.bytes", &f.bytes, MAX_FILL_BYTES)?;
                check_api_expect(path, kind, &f.expect)?;
                if !f.expect.expects_failure() {
                    return Err(at(
                        "fill.expect: give the refusal that ends it (error, errorContains or code)"
                            .into(),
                    ));
                }
                expectations += 1;
            }
            Step::DeleteAll(d) => check_target(Target::One(d.apiserver))?,
            Step::Compact(_) | Step::Defragment(_) | Step::DisarmAlarms(_) => {}
            Step::ExpectAlarms(_) => expectations += 1,
            Step::SetFlags { apiserver, mounts, .. } => {
                check_target(*apiserver)?;
                if let Some(problem) = mounts.as_deref().and_then(mounts_problem) {
                    return Err(at(format!("setFlags: {problem}")));
                }
            }
            Step::Stop { apiserver } => check_target(*apiserver)?,
            Step::Start { apiserver, expect } | Step::Restart { apiserver, expect } => {
                check_target(*apiserver)?;
                if expect.is_some() {
                    expectations += 1;
                }
            }
            Step::Create(s) | Step::Update(s) | Step::Get(s) | Step::Delete(s) => {
                s.object().resolve().map_err(at)?;
                check_target(Target::One(s.apiserver))?;
                if let Some(n) = &s.count {
                    at_most(path, &format!("{kind}.count"), n, MAX_OBJECTS)?;
                }
                if let Some(e) = &s.expect {
                    check_api_expect(path, kind, e)?;
                    expectations += 1;
                }
            }
            Step::List(s) | Step::Rewrite(s) => {
                check_target(Target::One(s.apiserver))?;
                if let Some(c) = &s.concurrent_update {
                    if !matches!(step, Step::Rewrite(_)) {
                        return Err(at("`concurrentUpdate` belongs to `rewrite` steps".into()));
                    }
                    if c.every.value == 0 {
                        return Err(ScenarioError::at(
                            path,
                            c.every.referenced.line(),
                            c.every.referenced.column(),
                            "concurrentUpdate.every must be at least 1",
                        ));
                    }
                    at_most(path, "rewrite.concurrentUpdate.every", &c.every, MAX_OBJECTS)?;
                    check_target(Target::One(c.apiserver))?;
                }
                if let Some(e) = &s.expect {
                    check_api_expect(path, kind, e)?;
                    expectations += 1;
                }
            }
            Step::ExpectStored(st) => {
                st.object().resolve().map_err(at)?;
                check_stored(&st.checks(), &check_config, &at)?;
                expectations += 1;
            }
            Step::ExpectAll(all) => {
                check_stored(&all.checks(), &check_config, &at)?;
                expectations += 1;
            }
            Step::Preflight(p) => {
                check_config(&p.config)?;
                let e = &p.expect;
                if e.ready.is_none() && e.unreadable.is_none() && e.stale.is_none() {
                    return Err(at(
                        "preflight.expect: expect at least one of ready, unreadable, stale".into(),
                    ));
                }
                for (field, n) in [("unreadable", &e.unreadable), ("stale", &e.stale)] {
                    if let Some(n) = n {
                        at_most(path, &format!("preflight.expect.{field}"), n, MAX_OBJECTS)?;
                    }
                }
                expectations += 1;
            }
            Step::WaitForReload(r) => {
                check_target(r.apiserver)?;
                at_most(
                    path,
                    "waitForReload.timeoutSeconds",
                    &r.timeout_seconds,
                    MAX_TIMEOUT_SECONDS,
                )?;
                expectations += 1;
            }
            Step::KmsPlugin(k) => {
                check_plugin(&k.name)?;
                let actions = usize::from(k.rotate)
                    + usize::from(k.fault.is_some())
                    + usize::from(k.clear_faults);
                if actions != 1 {
                    return Err(at(
                        "kmsPlugin: give exactly one of `rotate: true`, `fault` or `clearFaults: true`"
                            .into(),
                    ));
                }
            }
            Step::DeleteMirrorPod(m) => check_target(Target::One(m.apiserver))?,
            Step::Probe(p) => {
                check_target(Target::One(p.apiserver))?;
                if !["/healthz", "/readyz", "/livez"].iter().any(|h| p.path.starts_with(h)) {
                    return Err(at(format!(
                        "probe: path {:?} is not a health check (/healthz…, /readyz…, /livez…)",
                        p.path
                    )));
                }
                if let Some(t) = &p.timeout_seconds {
                    at_most(path, "probe.timeoutSeconds", t, MAX_TIMEOUT_SECONDS)?;
                }
                let code = &p.expect.code;
                if !(100..=599).contains(&code.value) {
                    return Err(ScenarioError::at(
                        path,
                        code.referenced.line(),
                        code.referenced.column(),
                        format!(
                            "probe.expect.code {} is not an HTTP status (100 to 599)",
                            code.value
                        ),
                    ));
                }
                expectations += 1;
            }
            Step::Wait(w) => {
                if w.seconds.value == 0 {
                    return Err(ScenarioError::at(
                        path,
                        w.seconds.referenced.line(),
                        w.seconds.referenced.column(),
                        "wait.seconds must be at least 1",
                    ));
                }
                at_most(path, "wait.seconds", &w.seconds, MAX_WAIT_SECONDS)?;
            }
            Step::ExpectKmsCalls(c) => {
                check_plugin(&c.name)?;
                if c.encrypt.is_none() && c.decrypt.is_none() {
                    return Err(at("expectKmsCalls: give `encrypt`, `decrypt` or both".into()));
                }
                expectations += 1;
            }
            Step::WaitForKmsKeyId(w) => {
                check_plugin(&w.name)?;
                check_target(w.apiserver)?;
                at_most(
                    path,
                    "waitForKmsKeyId.timeoutSeconds",
                    &w.timeout_seconds,
                    MAX_TIMEOUT_SECONDS,
                )?;
                expectations += 1;
            }
            Step::Measure(m) => {
                if m.objects.value == 0 {
                    return Err(ScenarioError::at(
                        path,
                        m.objects.referenced.line(),
                        m.objects.referenced.column(),
                        "measure.objects must be at least 1",
                    ));
                }
                at_most(path, "measure.objects", &m.objects, MAX_OBJECTS)?;
                at_most(path, "measure.size", &m.size, MAX_VALUE_SIZE)?;
                // Both are bounded above, so the product cannot overflow; saturate regardless.
                let bytes = m.objects.value.saturating_mul(m.size.value);
                if bytes > MAX_MEASURE_BYTES {
                    return Err(at(format!(
                        "measure: objects × size is {bytes} bytes, above the limit of \
                         {MAX_MEASURE_BYTES} (the engine keeps every value it wrote)"
                    )));
                }
            }
        }
        steps.push(PlacedStep { line, name: name.map(|n| n.value), step });
    }
    if expectations == 0 {
        return Err(ScenarioError::at(
            path,
            1,
            1,
            "the scenario expects nothing: add an `expect` to a step, or an `expectStored`/`expectAll` step",
        ));
    }
    Ok(Scenario {
        name,
        path: path.to_owned(),
        description: file.description,
        cluster: file.cluster,
        configs,
        steps,
    })
}

/// Where a template error in an inline configuration is in the scenario file: the placeholder as
/// written, found from where the configuration's value starts (the same text may appear earlier
/// in the template, so the n-th occurrence for the n-th). `None` when the file spells it
/// differently (an escape in a quoted string).
fn inline_position(
    file_text: &str,
    value_at: Option<usize>,
    template: &str,
    err: &TemplateError,
) -> Option<(u64, u64)> {
    let needle = err.placeholder()?;
    let offset = err.offset()?;
    let nth = template.get(..offset)?.matches(needle.as_str()).count();
    let from = value_at?;
    let rest = file_text.get(from..)?;
    let (at, _) = rest.match_indices(needle.as_str()).nth(nth)?;
    Some(template::line_col(file_text, from + at))
}

/// Checks `cluster.kmsPlugins` (names unique and usable as socket file names, at most
/// [`MAX_KMS_PLUGINS`]) and that every `${kms:NAME}` of a configuration names one of them;
/// returns the names.
fn check_kms_plugins(
    path: &Path,
    plugins: &[Spanned<KmsPluginDef>],
    configs: &BTreeMap<String, String>,
) -> Result<Vec<String>, ScenarioError> {
    let mut names: Vec<String> = Vec::new();
    for (n, p) in plugins.iter().enumerate() {
        let at = |m: String| ScenarioError::at(path, p.referenced.line(), p.referenced.column(), m);
        if n >= MAX_KMS_PLUGINS {
            return Err(at(format!("cluster.kmsPlugins: at most {MAX_KMS_PLUGINS} plugins")));
        }
        let name = &p.value.name;
        let valid = !name.is_empty()
            && name.len() <= 63
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(at(format!(
                "cluster.kmsPlugins: name {name:?} must be 1 to 63 lowercase letters, digits or `-`"
            )));
        }
        if names.contains(name) {
            return Err(at(format!("cluster.kmsPlugins: name {name:?} is used twice")));
        }
        names.push(name.clone());
    }
    for (cname, text) in configs {
        for plugin in crate::template::kms_placeholders(text) {
            if !names.contains(&plugin) {
                return Err(ScenarioError::at(
                    path,
                    1,
                    1,
                    format!(
                        "config {cname:?}: ${{kms:{plugin}}} names no plugin of cluster.kmsPlugins"
                    ),
                ));
            }
        }
    }
    Ok(names)
}

/// A step name is shown in reports and names a JUnit test case: 1 to [`MAX_STEP_NAME`]
/// letters, digits, `-`, `_` or `.`, used once in the scenario. `seen` maps names to their lines.
fn check_step_name(
    path: &Path,
    name: &Spanned<String>,
    seen: &mut BTreeMap<String, u64>,
) -> Result<(), ScenarioError> {
    let (line, column) = (name.referenced.line(), name.referenced.column());
    let n = &name.value;
    let valid = !n.is_empty()
        && n.len() <= MAX_STEP_NAME
        && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(ScenarioError::at(
            path,
            line,
            column,
            format!(
                "step name {n:?} must be 1 to {MAX_STEP_NAME} letters, digits, `-`, `_` or `.`"
            ),
        ));
    }
    if let Some(first) = seen.insert(n.clone(), line) {
        return Err(ScenarioError::at(
            path,
            line,
            column,
            format!("step name {n:?} is used twice (first on line {first})"),
        ));
    }
    Ok(())
}

/// Rejects `value` above `max`, at the value's own position, naming the field and both numbers.
fn at_most<T: PartialOrd + fmt::Display>(
    path: &Path,
    field: &str,
    value: &Spanned<T>,
    max: T,
) -> Result<(), ScenarioError> {
    if value.value > max {
        return Err(ScenarioError::at(
            path,
            value.referenced.line(),
            value.referenced.column(),
            format!("{field} is {}, above the limit of {max}", value.value),
        ));
    }
    Ok(())
}

/// Expected counts above [`MAX_OBJECTS`] could only be met by objects the scenario cannot have
/// written; an HTTP code outside 100..=599 can never come back.
fn check_api_expect(path: &Path, step: &str, e: &ApiExpect) -> Result<(), ScenarioError> {
    let counts = [
        (&e.count, "count"),
        (&e.rewritten, "rewritten"),
        (&e.unchanged, "unchanged"),
        (&e.conflicts, "conflicts"),
    ];
    for (n, name) in counts {
        if let Some(n) = n {
            at_most(path, &format!("{step}.expect.{name}"), n, MAX_OBJECTS)?;
        }
    }
    if let Some(code) = &e.code
        && !(100..=599).contains(&code.value)
    {
        return Err(ScenarioError::at(
            path,
            code.referenced.line(),
            code.referenced.column(),
            format!("{step}.expect.code is {}, not an HTTP status (100 to 599)", code.value),
        ));
    }
    Ok(())
}

fn check_stored(
    checks: &[StoredCheck],
    check_config: &dyn Fn(&Spanned<String>) -> Result<(), ScenarioError>,
    at: &dyn Fn(String) -> ScenarioError,
) -> Result<(), ScenarioError> {
    if checks.is_empty() {
        return Err(at(format!("expect at least one of {}", STORED_CHECK_FIELDS.join(", "))));
    }
    // A misspelled configuration name is a load error, not a failed check at run time.
    for c in checks.iter().filter_map(StoredCheck::config) {
        check_config(c)?;
    }
    Ok(())
}

impl ObjectStep {
    /// The object (or the name prefix with `count`).
    pub fn object(&self) -> ObjectDef {
        ObjectDef {
            secret: self.secret.clone(),
            configmap: self.configmap.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// The objects the step addresses (one, or `count`).
    pub fn objects(&self) -> Vec<ObjectRef> {
        let base = self.object().object_ref();
        match &self.count {
            None => vec![base],
            Some(n) => (0..n.value)
                .map(|i| ObjectRef { name: format!("{}-{i}", base.name), ..base.clone() })
                .collect(),
        }
    }
}

impl ObjectDef {
    /// The object (checked at load).
    pub fn object_ref(&self) -> ObjectRef {
        self.resolve().expect("checked at load")
    }
}
