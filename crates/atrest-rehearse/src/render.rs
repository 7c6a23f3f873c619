//! Texts of a plan: configuration templates, the rehearsal and naive scenarios, the runbook.
//! Every key is a `${key:ALIAS:BYTES}` placeholder; user-derived strings are JSON-quoted (a
//! JSON string is a YAML double-quoted scalar).

use std::fmt::Write as _;

use atrest_config::resolve::GroupResource;
use atrest_config::{KeySecret, ProviderKind};

use crate::plan::{Concrete, PlanStep, StepKind, chain_for};
use crate::predict::{Prediction, provider_items};
use crate::{Chain, Plan, Reader};

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn placeholder(plan: &Plan, alias: &str) -> String {
    let bytes = plan.keys.get(alias).map_or(32, |k| k.bytes);
    format!("${{key:{alias}:{bytes}}}")
}

/// Where every apiserver reads its configuration in a rendered scenario: a file per apiserver,
/// as on real control-plane nodes.
const HA_CONFIG_PATH: &str = "/etc/kubernetes/enc/apiserver-{apiserver}.yaml";

impl Plan {
    /// The configuration `name` as an `EncryptionConfiguration` with placeholders for keys.
    pub fn config_template(&self, name: &str) -> Option<String> {
        let config = self.config(name)?;
        let mut out = String::from(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n",
        );
        // Adjacent rules with the same chain share one entry, as users write them; a wildcard
        // keeps an entry of its own (upstream refuses `secrets` and `*.*` in one list).
        let mut groups: Vec<(Vec<&GroupResource>, &Chain)> = Vec::new();
        for (rule, chain) in &config.rules {
            let wildcard = |g: &GroupResource| g.resource == "*";
            match groups.last_mut() {
                Some((rules, last))
                    if *last == chain && !wildcard(rule) && !rules.iter().any(|g| wildcard(g)) =>
                {
                    rules.push(rule)
                }
                _ => groups.push((vec![rule], chain)),
            }
        }
        let secret = |alias: &str| KeySecret::new(placeholder(self, alias));
        for (rules, chain) in groups {
            out.push_str("- resources:\n");
            for r in rules {
                let _ = writeln!(out, "  - {}", q(&r.yaml_string()));
            }
            out.push_str("  providers:\n");
            for item in provider_items(chain, &secret) {
                let keyed = |out: &mut String, kind: ProviderKind, keys: &[atrest_config::Key]| {
                    let _ = writeln!(out, "  - {kind}:\n      keys:");
                    for k in keys {
                        // The placeholder is ours and needs no quoting; the name is the user's.
                        let _ = writeln!(
                            out,
                            "      - name: {}\n        secret: {}",
                            q(&k.name),
                            k.secret.expose()
                        );
                    }
                };
                if let Some(a) = &item.aescbc {
                    keyed(&mut out, ProviderKind::Aescbc, &a.keys);
                } else if let Some(a) = &item.aesgcm {
                    keyed(&mut out, ProviderKind::Aesgcm, &a.keys);
                } else if let Some(s) = &item.secretbox {
                    keyed(&mut out, ProviderKind::Secretbox, &s.keys);
                } else if item.identity.is_some() {
                    out.push_str("  - identity: {}\n");
                } else if let Some(k) = &item.kms {
                    let _ = writeln!(
                        out,
                        "  - kms:\n      apiVersion: {}\n      name: {}\n      endpoint: {}",
                        q(&k.api_version),
                        q(&k.name),
                        q(&k.endpoint)
                    );
                    if let Some(t) = &k.timeout {
                        let _ = writeln!(out, "      timeout: {}", q(&t.to_string()));
                    }
                    if let Some(c) = k.cachesize {
                        let _ = writeln!(out, "      cachesize: {c}");
                    }
                }
            }
        }
        Some(out)
    }

    fn scenario_head(&self, description: &str, configs: &[&str]) -> String {
        let mut out = format!("description: {}\n", q(description));
        let n = self.options.apiservers;
        if n > 1 {
            let _ =
                write!(out, "cluster:\n  apiservers: {n}\n  encryptionConfig: {HA_CONFIG_PATH}\n");
        }
        out.push_str("configs:\n");
        for name in configs {
            if let Some(t) = self.config_template(name) {
                let _ = writeln!(out, "  {name}: |");
                for line in t.lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        out.push_str("steps:\n");
        out
    }

    fn seed_steps(&self, out: &mut String, tracked: &mut Vec<Tracked>) {
        let k = self.options.objects.max(1);
        for (i, seed) in self.seeds.iter().enumerate() {
            let _ = writeln!(
                out,
                "  # Seed {}: objects stored as {} under config {}.",
                i + 1,
                if seed.written.is_empty() {
                    "nothing new".to_owned()
                } else {
                    seed.written
                        .iter()
                        .map(|(c, r)| format!("{} by {r}", c.resource()))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                seed.config
            );
            let _ = writeln!(out, "  - writeConfig: {{config: {}}}", seed.config);
            out.push_str(if i == 0 { "  - start: {}\n" } else { "  - restart: {}\n" });
            for (c, r) in &seed.written {
                let _ = writeln!(
                    out,
                    "  - create: {{{}: {}, count: {k}, data: {{value: rehearse-{}}}}}",
                    c.field(),
                    seed.name,
                    seed.name
                );
                for j in 0..k {
                    tracked.push(Tracked {
                        resource: *c,
                        name: format!("{}-{j}", seed.name),
                        at: r.clone(),
                    });
                }
            }
        }
    }

    /// The scenario that walks the plan on a cluster seeded under CURRENT and proves, after
    /// every step, where each object is stored and that nothing was lost.
    pub fn rehearsal_scenario(&self, from: &str, to: &str) -> String {
        let mut names: Vec<&str> = self.configs.iter().map(|c| c.name.as_str()).collect();
        names.dedup();
        let mut out =
            self.scenario_head(&format!("rehearsal: {from} → {to}, the safe path"), &names);
        let mut tracked = Vec::new();
        self.seed_steps(&mut out, &mut tracked);
        expect_tracked(&mut out, &tracked);
        let n = self.options.apiservers;
        let mut active = "current".to_owned();
        for (s, step) in self.steps.iter().enumerate() {
            match step.kind {
                StepKind::Current => {}
                StepKind::Add | StepKind::Promote | StepKind::Target => {
                    let Some(name) = step.config.clone() else { continue };
                    let _ = writeln!(out, "  # Step {}: {}", s, step.title);
                    let _ = writeln!(out, "  - writeConfig: {{config: {name}}}");
                    let rules = self.config(&name).map(|c| c.rules.clone()).unwrap_or_default();
                    for i in 0..n {
                        if n == 1 {
                            out.push_str("  - restart: {}\n");
                        } else {
                            let _ = writeln!(out, "  - restart: {{apiserver: {i}}}");
                        }
                        // A write through the server just restarted lands on its write provider.
                        for c in self.affected() {
                            let obj = format!("after-{}-{i}", step_slug(step));
                            let _ = writeln!(
                                out,
                                "  - create: {{{}: {obj}, apiserver: {i}, data: {{value: rehearse-{obj}}}}}",
                                c.field()
                            );
                            let at = chain_for(&rules, &c.group_resource())[0].clone();
                            tracked.push(Tracked { resource: c, name: obj, at });
                        }
                        // Mid-roll, the new objects; once every server runs the step's
                        // config, every object.
                        let news =
                            if i + 1 == n { 0 } else { tracked.len() - self.affected().len() };
                        expect_tracked(&mut out, &tracked[news..]);
                    }
                    active = name;
                }
                StepKind::Rewrite => {
                    let _ = writeln!(out, "  # Step {}: {}", s, step.title);
                    let rules = self.config(&active).map(|c| c.rules.clone()).unwrap_or_default();
                    for c in self.rewritten() {
                        let _ = writeln!(out, "  - rewrite: {{resource: {}}}", c.resource());
                        let at = chain_for(&rules, &c.group_resource())[0].clone();
                        for t in tracked.iter_mut().filter(|t| t.resource == c) {
                            t.at = at.clone();
                        }
                        expect_all(&mut out, c, &at, &active);
                    }
                    expect_tracked(&mut out, &tracked);
                }
            }
        }
        // The end state is TARGET's: every object of a changed resource current under it.
        let target = self.config("target").map(|c| c.rules.clone()).unwrap_or_default();
        for c in self.affected() {
            let at = chain_for(&target, &c.group_resource())[0].clone();
            if self.rewritten().contains(&c) {
                expect_all(&mut out, c, &at, "target");
            }
        }
        out
    }

    /// The concrete resources the plan rewrites.
    pub fn rewritten(&self) -> Vec<Concrete> {
        let (Some(current), Some(target)) = (self.config("current"), self.config("target")) else {
            return Vec::new();
        };
        Concrete::ALL
            .into_iter()
            .filter(|c| {
                crate::plan::needs_rewrite(
                    &chain_for(&current.rules, &c.group_resource()),
                    &chain_for(&target.rules, &c.group_resource()),
                )
            })
            .collect()
    }

    /// The scenario that applies TARGET directly on a cluster seeded as for the rehearsal,
    /// with the prediction as its expectations: it passes when the backend does what the model
    /// predicted.
    pub fn naive_scenario(&self, from: &str, to: &str, prediction: &Prediction) -> String {
        let mut names: Vec<&str> = self
            .configs
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| n.starts_with("seed-") || *n == "current" || *n == "target")
            .collect();
        names.dedup();
        let mut out = self.scenario_head(&format!("naive switch: {from} → {to} directly"), &names);
        let mut tracked = Vec::new();
        self.seed_steps(&mut out, &mut tracked);
        out.push_str(
            "  # The naive switch: TARGET everywhere at once.\n  - writeConfig: {config: target}\n",
        );
        if prediction.ready {
            out.push_str("  - restart: {}\n");
        } else {
            out.push_str(if prediction.never_ready() {
                "  # Predicted: an unreadable Secret keeps its watch cache from listing, /readyz never passes.\n  - restart: {expect: notReady}\n"
            } else {
                "  # Predicted: an unreadable ConfigMap keeps its watch cache from listing, /readyz fails until\n  # --storage-initialization-timeout (1m by default) passes.\n  - restart: {expect: notReady}\n"
            });
        }
        let k = self.options.objects.max(1);
        for o in &prediction.outcomes {
            if o.group == "kube-system" {
                continue;
            }
            match &o.error {
                None => {
                    let _ = writeln!(
                        out,
                        "  - get: {{{}: {}, count: {k}}}",
                        o.resource.field(),
                        o.group
                    );
                    // Readable, and left where it was until rewritten (`atrest inspect` names
                    // plaintext as its own state, not stale).
                    let stale = match o.written {
                        Reader::Key { .. } if o.stale => ", staleWith: target",
                        _ => "",
                    };
                    for j in 0..k {
                        let _ = writeln!(
                            out,
                            "  - expectStored: {{{}: {}-{j}, {}{stale}}}",
                            o.resource.field(),
                            o.group,
                            stored_fields(&o.written).trim_end_matches(", ")
                        );
                    }
                }
                Some(text) => {
                    let _ = writeln!(
                        out,
                        "  - get:\n      {}: {}\n      count: {k}\n      expect:\n        code: 500\n        errorContains: {}",
                        o.resource.field(),
                        o.group,
                        q(&format!(
                            "data from the storage is not transformable revision=0: {text}"
                        ))
                    );
                }
            }
        }
        out
    }

    /// The runbook: intermediate configurations in order (placeholders for keys), the
    /// commands per step, and the rehearsal scenario.
    pub fn runbook(&self, from: &str, to: &str) -> Runbook {
        let mut files = Vec::new();
        let mut md = format!(
            "# Runbook: {from} → {to}\n\nWritten by `atrest rehearse`. No file here holds key material: each `${{key:ALIAS:BYTES}}` stands for a key of your files (table below).\n\n## What changes\n\n"
        );
        for line in crate::plan::describe_changes(&self.changes) {
            let _ = writeln!(md, "- {line}");
        }
        let n = self.options.apiservers;
        md.push_str("\n## Steps\n\n");
        let mut number = 0;
        for step in &self.steps {
            if step.kind == StepKind::Current {
                continue;
            }
            number += 1;
            let _ = writeln!(md, "### {number}. {}\n\n{}.\n", step.title, capitalize(&step.why));
            if let Some(name) = &step.config {
                let file = format!("{number:02}-{name}.yaml");
                if let Some(t) = self.config_template(name) {
                    files.push((file.clone(), t));
                }
                let _ = writeln!(
                    md,
                    "Put `{file}`, keys filled in, at the path of `--encryption-provider-config` on {}. Then restart {} kube-apiserver{}: move its static pod manifest out of `/etc/kubernetes/manifests` and back (deleting the mirror pod with kubectl does not restart it), and wait until\n\n```sh\nkubectl get --raw='/readyz?verbose'\n```\n\nanswers `readyz check passed`{}.\n",
                    if n > 1 {
                        format!("all {n} control-plane nodes")
                    } else {
                        "the control-plane node".to_owned()
                    },
                    if n > 1 { "each" } else { "the" },
                    if n > 1 { ", one node at a time" } else { "" },
                    if n > 1 { " before the next node" } else { "" },
                );
            }
            for rule in &step.rewrite {
                let resource = if rule.is_any() {
                    "every resource you store (kubectl api-resources --verbs=list,update)"
                        .to_owned()
                } else {
                    rule.yaml_string()
                };
                let _ = writeln!(
                    md,
                    "```sh\n# {resource}\nkubectl get {} --all-namespaces -o json | kubectl replace -f -\n```\n",
                    if rule.resource == "*" { "<resource>" } else { &resource }
                );
            }
            if step.kind == StepKind::Add {
                md.push_str(
                    "Back up the new key now: from the next step on, data is written with it.\n\n",
                );
            }
        }
        md.push_str("Prove each step from etcd with `atrest inspect --config <the file of the step> --etcd …`: it says, per key, whether it is still needed.\n\n## Keys\n\n| placeholder | provider | key name | bytes |\n|---|---|---|---|\n");
        for k in self.keys.iter() {
            let _ = writeln!(
                md,
                "| `${{key:{}:{}}}` | {} | {} | {} |",
                k.alias,
                k.bytes,
                k.kind,
                k.name.replace('|', "\\|"),
                k.bytes
            );
        }
        md.push_str(&format!("\n## Regress it\n\n`rehearsal.yaml` is this plan as an atrest scenario, with fresh random keys on every run (no key of yours is needed in CI):\n\n```sh\natrest scenario rehearsal.yaml                    # simulator\natrest scenario rehearsal.yaml --backend process  # real etcd and kube-apiserver\n```\n\nWith your files in place of `current` and `target`, every placeholder takes the key at the same provider and key name in them, so the whole plan runs with your keys (locally; keep keys out of CI):\n\n```sh\natrest scenario rehearsal.yaml --config current={from} --config target={to}\n```\n"));
        if !self.notes.is_empty() {
            md.push_str("\n## Notes\n\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        files.push(("rehearsal.yaml".to_owned(), self.rehearsal_scenario(from, to)));
        files.insert(0, ("README.md".to_owned(), md));
        Runbook { files }
    }
}

/// Files of a runbook: `(file name, text)`.
#[derive(Debug, Clone)]
pub struct Runbook {
    /// In order: `README.md`, `01-….yaml`…, `rehearsal.yaml`.
    pub files: Vec<(String, String)>,
}

struct Tracked {
    resource: Concrete,
    name: String,
    at: Reader,
}

fn expect_tracked(out: &mut String, tracked: &[Tracked]) {
    for t in tracked {
        let _ = writeln!(
            out,
            "  - expectStored: {{{}: {}, {}}}",
            t.resource.field(),
            t.name,
            stored_fields(&t.at).trim_end_matches(", ")
        );
    }
}

/// Every value of `c` stored by `at`, and current under `config` (plaintext is its own state
/// for `atrest inspect`, so identity is checked as plaintext alone).
fn expect_all(out: &mut String, c: Concrete, at: &Reader, config: &str) {
    let current = match at {
        Reader::Identity => String::new(),
        _ => format!(", currentWith: {config}"),
    };
    let _ = writeln!(
        out,
        "  - expectAll: {{resource: {}, {}{current}}}",
        c.resource(),
        stored_fields(at).trim_end_matches(", ")
    );
}

fn stored_fields(r: &Reader) -> String {
    match r {
        Reader::Identity => "plaintext: true, ".to_owned(),
        Reader::Key { kind, name, .. } => format!("provider: {kind}, key: {}, ", q(name)),
        Reader::Kms(_) => "provider: kms, ".to_owned(),
    }
}

fn step_slug(step: &PlanStep) -> &'static str {
    match step.kind {
        StepKind::Current => "current",
        StepKind::Add => "add",
        StepKind::Promote => "promote",
        StepKind::Rewrite => "rewrite",
        StepKind::Target => "target",
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
