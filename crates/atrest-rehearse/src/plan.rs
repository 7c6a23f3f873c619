//! The planner: per resource rule, the chain CURRENT has, the chain TARGET wants, and the
//! intermediate chains of upstream's procedures.

use atrest_config::resolve::{GroupResource, Lookup, ResourcePlan};
use atrest_config::{EncryptionConfiguration, ProviderConfiguration, ProviderKind};

use crate::{Chain, Keys, Reader, describe_chain};

/// Choices for [`plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// How many apiservers share the etcd (1 to 16). More than one adds the "new key second
    /// everywhere" step.
    pub apiservers: usize,
    /// Objects seeded per resource and per way CURRENT can hold them.
    pub objects: usize,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions { apiservers: 1, objects: 3 }
    }
}

/// Why no safe plan exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// CURRENT and TARGET cannot be joined safely; each reason names the rule and the key.
    #[error("no safe path from CURRENT to TARGET:\n{}", .reasons.iter().map(|r| format!("  - {r}")).collect::<Vec<_>>().join("\n"))]
    Unsafe {
        /// One line per problem.
        reasons: Vec<String>,
    },
    /// A configuration has no resource rules to plan over (it cannot have loaded).
    #[error("{which} has no resource rules")]
    Empty {
        /// `CURRENT` or `TARGET`.
        which: &'static str,
    },
}

/// What changes for one resource rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceChange {
    /// The rule (`secrets`, `*.apps`, `*.*`).
    pub rule: GroupResource,
    /// The chain under CURRENT (a resource no rule matches reads and writes as `identity`).
    pub from: Chain,
    /// The chain under TARGET.
    pub to: Chain,
    /// In words: `unchanged`, `key rotation`, `encryption turned on`, …
    pub what: String,
    /// Whether its stored objects must be rewritten before TARGET.
    pub rewrite: bool,
}

/// A step kind of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The configuration the cluster runs today.
    Current,
    /// N apiservers: the new write provider added second everywhere.
    Add,
    /// The new write provider first, every old reader kept.
    Promote,
    /// Every object of the rules that change is read and written back.
    Rewrite,
    /// The configuration wanted.
    Target,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    /// What kind.
    pub kind: StepKind,
    /// The configuration written in this step (`current`, `add`, `promote`, `target`), if any.
    pub config: Option<String>,
    /// What the step does, one line.
    pub title: String,
    /// Why it is safe and needed.
    pub why: String,
    /// For a rewrite: the rules whose objects are rewritten.
    pub rewrite: Vec<GroupResource>,
}

/// A named configuration of the plan, as chains per rule (render with
/// [`Plan::config_template`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedConfig {
    /// `seed-1`, `current`, `add`, `promote`, `target`.
    pub name: String,
    /// Chains by rule, in render order.
    pub rules: Vec<(GroupResource, Chain)>,
}

/// Objects seeded before the plan runs, so that every way CURRENT can hold data is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// The configuration they are written under.
    pub config: String,
    /// Object name prefix (`seed-1`, `current`).
    pub name: String,
    /// Per concrete resource the scenario can write: the reader they are written with.
    pub written: Vec<(Concrete, Reader)>,
}

/// The resources the scenario engine can write and read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Concrete {
    /// `secrets`.
    Secrets,
    /// `configmaps`.
    Configmaps,
}

impl Concrete {
    /// Both.
    pub const ALL: [Concrete; 2] = [Concrete::Secrets, Concrete::Configmaps];

    /// The plural resource name.
    pub fn resource(self) -> &'static str {
        match self {
            Concrete::Secrets => "secrets",
            Concrete::Configmaps => "configmaps",
        }
    }

    /// The scenario field naming one object (`secret`, `configmap`).
    pub fn field(self) -> &'static str {
        match self {
            Concrete::Secrets => "secret",
            Concrete::Configmaps => "configmap",
        }
    }

    /// The core-group `GroupResource`.
    pub fn group_resource(self) -> GroupResource {
        GroupResource::new("", self.resource())
    }
}

/// The plan from CURRENT to TARGET.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every key of both files, under placeholder aliases.
    pub keys: Keys,
    /// Choices it was made with.
    pub options: PlanOptions,
    /// What changes, per rule.
    pub changes: Vec<ResourceChange>,
    /// Seed configurations and `current`, `add`, `promote`, `target` (those the plan uses).
    pub configs: Vec<NamedConfig>,
    /// What the rehearsal writes before the plan starts.
    pub seeds: Vec<Seed>,
    /// The procedure.
    pub steps: Vec<PlanStep>,
    /// Things the rehearsal cannot prove, and other remarks.
    pub notes: Vec<String>,
}

impl Plan {
    /// The configuration named `name`.
    pub fn config(&self, name: &str) -> Option<&NamedConfig> {
        self.configs.iter().find(|c| c.name == name)
    }

    /// Whether CURRENT and TARGET read and write every resource the same way.
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(|c| c.from == c.to)
    }

    /// Whether a KMS provider takes part: no backend can run one yet.
    pub fn uses_kms(&self) -> bool {
        self.configs
            .iter()
            .any(|c| c.rules.iter().any(|(_, ch)| ch.iter().any(|r| matches!(r, Reader::Kms(_)))))
    }

    /// The concrete resources whose chain changes.
    pub fn affected(&self) -> Vec<Concrete> {
        let (Some(current), Some(target)) = (self.config("current"), self.config("target")) else {
            return Vec::new();
        };
        Concrete::ALL
            .into_iter()
            .filter(|c| {
                chain_for(&current.rules, &c.group_resource())
                    != chain_for(&target.rules, &c.group_resource())
            })
            .collect()
    }
}

/// The chain a resource gets from rules in render order: the exact rule, then `*.group`, then
/// `*.*` (upstream's `transformerFromOverrides`), else `identity`.
pub fn chain_for(rules: &[(GroupResource, Chain)], gr: &GroupResource) -> Chain {
    let candidates = [gr.clone(), GroupResource::new(gr.group.clone(), "*"), GroupResource::any()];
    candidates
        .iter()
        .find_map(|c| rules.iter().find(|(r, _)| r == c).map(|(_, ch)| ch.clone()))
        .unwrap_or_else(|| vec![Reader::Identity])
}

fn readers_of(p: &ProviderConfiguration, keys: &mut Keys) -> Chain {
    let keyed = |kind: ProviderKind, list: &[atrest_config::Key], keys: &mut Keys| -> Chain {
        list.iter()
            .map(|k| Reader::Key {
                kind,
                name: k.name.clone(),
                alias: keys.alias_for(kind, &k.name, &k.secret),
            })
            .collect()
    };
    match p.kind() {
        Some(ProviderKind::Aescbc) => keyed(
            ProviderKind::Aescbc,
            &p.aescbc.as_ref().map(|a| a.keys.clone()).unwrap_or_default(),
            keys,
        ),
        Some(ProviderKind::Aesgcm) => keyed(
            ProviderKind::Aesgcm,
            &p.aesgcm.as_ref().map(|a| a.keys.clone()).unwrap_or_default(),
            keys,
        ),
        Some(ProviderKind::Secretbox) => keyed(
            ProviderKind::Secretbox,
            &p.secretbox.as_ref().map(|a| a.keys.clone()).unwrap_or_default(),
            keys,
        ),
        Some(ProviderKind::Identity) => vec![Reader::Identity],
        Some(ProviderKind::Kms) => p.kms.clone().map(Reader::Kms).into_iter().collect(),
        None => Vec::new(),
    }
}

fn chain_of(plan: &ResourcePlan, gr: &GroupResource, keys: &mut Keys) -> Chain {
    match plan.lookup(gr) {
        Lookup::Providers(ps) => {
            let mut chain = Chain::new();
            for p in ps {
                for r in readers_of(p, keys) {
                    // A reader listed twice reads nothing the first did not.
                    if !chain.contains(&r) {
                        chain.push(r);
                    }
                }
            }
            chain
        }
        Lookup::BareIdentity => vec![Reader::Identity],
    }
}

/// Rules in an order upstream accepts: exact resources, then `*.group`, then `*.*`.
fn render_order(rules: &mut [GroupResource]) {
    let rank = |g: &GroupResource| {
        if g.is_any() {
            2
        } else if g.resource == "*" {
            1
        } else {
            0
        }
    };
    rules.sort_by_key(rank);
}

/// Whether objects stored under `from` must be rewritten before `to` takes over: the write
/// provider changes, or `to` drops a reader that may still hold data.
pub(crate) fn needs_rewrite(from: &[Reader], to: &[Reader]) -> bool {
    from != to && (from.first() != to.first() || from.iter().any(|r| !to.contains(r)))
}

fn what_changes(from: &Chain, to: &Chain) -> String {
    if from == to {
        return "unchanged".to_owned();
    }
    let (fw, tw) = (&from[0], &to[0]);
    if fw == tw {
        return if to.iter().all(|r| from.contains(r)) {
            "old read-only keys dropped".to_owned()
        } else if from.iter().all(|r| to.contains(r)) {
            "read-only keys added".to_owned()
        } else {
            "read-only keys changed".to_owned()
        };
    }
    match (fw, tw) {
        (Reader::Identity, _) => "encryption turned on".to_owned(),
        (_, Reader::Identity) => "encryption turned off".to_owned(),
        (a, b) if a.provider() == b.provider() => "key rotation".to_owned(),
        _ => "provider change".to_owned(),
    }
}

/// Plans the change from `from` (CURRENT) to `to` (TARGET); both must have loaded.
pub fn plan(
    from: &EncryptionConfiguration,
    to: &EncryptionConfiguration,
    options: PlanOptions,
) -> Result<Plan, PlanError> {
    let from_plan = ResourcePlan::build(from).map_err(|_| PlanError::Empty { which: "CURRENT" })?;
    let to_plan = ResourcePlan::build(to).map_err(|_| PlanError::Empty { which: "TARGET" })?;
    let mut rules: Vec<GroupResource> = Vec::new();
    for (gr, _) in from_plan.entries().chain(to_plan.entries()) {
        if !rules.contains(gr) {
            rules.push(gr.clone());
        }
    }
    if rules.is_empty() {
        return Err(PlanError::Empty { which: "CURRENT" });
    }
    render_order(&mut rules);

    let mut keys = Keys::default();
    // CURRENT's keys first, so aliases follow the user's reading order.
    let from_chains: Vec<Chain> =
        rules.iter().map(|r| chain_of(&from_plan, r, &mut keys)).collect();
    let to_chains: Vec<Chain> = rules.iter().map(|r| chain_of(&to_plan, r, &mut keys)).collect();

    let mut reasons = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let both: Vec<&Reader> = from_chains[i].iter().chain(&to_chains[i]).collect();
        for (a, x) in both.iter().enumerate() {
            for y in &both[a + 1..] {
                if let (
                    Reader::Key { kind: k1, name: n1, alias: a1 },
                    Reader::Key { kind: k2, name: n2, alias: a2 },
                ) = (x, y)
                    && k1 == k2
                    && n1 == n2
                    && a1 != a2
                {
                    let reason = format!(
                        "{}: {k1} key {n1:?} holds one secret in CURRENT and another in TARGET. Both write the prefix k8s:enc:{k1}:v1:{n1}: and the apiserver tries only the first key with a matching prefix, so values written with one secret would be read with the other and fail. Give the new key a new name.",
                        rule.yaml_string()
                    );
                    if !reasons.contains(&reason) {
                        reasons.push(reason);
                    }
                }
            }
        }
    }
    if !reasons.is_empty() {
        return Err(PlanError::Unsafe { reasons });
    }

    let n = options.apiservers.max(1);
    let mut changes = Vec::new();
    let (mut add, mut promote) = (Vec::new(), Vec::new());
    for (i, rule) in rules.iter().enumerate() {
        let (f, t) = (&from_chains[i], &to_chains[i]);
        let w = &t[0];
        let changed = f != t;
        let add_chain = if changed && n > 1 && !f.contains(w) {
            let mut c = f.clone();
            c.insert(1, w.clone());
            c
        } else {
            f.clone()
        };
        let promote_chain = if changed {
            let mut c = vec![w.clone()];
            c.extend(f.iter().filter(|r| *r != w).cloned());
            c.extend(t.iter().filter(|r| !f.contains(r) && *r != w).cloned());
            c
        } else {
            f.clone()
        };
        let rewrite = needs_rewrite(f, t);
        changes.push(ResourceChange {
            rule: rule.clone(),
            from: f.clone(),
            to: t.clone(),
            what: what_changes(f, t),
            rewrite,
        });
        add.push((rule.clone(), add_chain));
        promote.push((rule.clone(), promote_chain));
    }
    let named = |name: &str, chains: Vec<(GroupResource, Chain)>| NamedConfig {
        name: name.to_owned(),
        rules: chains,
    };
    let current = named("current", rules.iter().cloned().zip(from_chains.clone()).collect());
    let target = named("target", rules.iter().cloned().zip(to_chains.clone()).collect());
    let add = named("add", add);
    let promote = named("promote", promote);
    let rewrite_rules: Vec<GroupResource> =
        changes.iter().filter(|c| c.rewrite).map(|c| c.rule.clone()).collect();

    let mut steps = vec![PlanStep {
        kind: StepKind::Current,
        config: Some("current".to_owned()),
        title: "the cluster runs CURRENT".to_owned(),
        why: "the starting point: every object is stored by one of CURRENT's providers".to_owned(),
        rewrite: Vec::new(),
    }];
    let mut configs = Vec::new();
    let mut last = current.rules.clone();
    if add.rules != last {
        steps.push(PlanStep {
            kind: StepKind::Add,
            config: Some("add".to_owned()),
            title: format!("the new write provider SECOND on all {n} apiservers; restart each"),
            why: "every apiserver learns to read the new key before any apiserver writes with it: during the rolling restart of the next step, a server still on this config reads what a server already promoted writes".to_owned(),
            rewrite: Vec::new(),
        });
        last = add.rules.clone();
    }
    let promote_is_target = promote.rules == target.rules;
    if promote.rules != last && !promote_is_target {
        steps.push(PlanStep {
            kind: StepKind::Promote,
            config: Some("promote".to_owned()),
            title: if n > 1 {
                format!("the new write provider FIRST on all {n} apiservers; restart each")
            } else {
                "the new write provider FIRST, every old reader kept after it; restart".to_owned()
            },
            why: "new writes use TARGET's provider; everything stored before still reads through the old providers kept behind it (identity included, for data stored in plaintext)".to_owned(),
            rewrite: Vec::new(),
        });
        last = promote.rules.clone();
    }
    if promote_is_target && target.rules != last {
        steps.push(target_step(n, "TARGET adds or promotes providers but drops nothing, so it can be applied before the rewrite"));
        last = target.rules.clone();
    }
    if !rewrite_rules.is_empty() {
        steps.push(PlanStep {
            kind: StepKind::Rewrite,
            config: None,
            title: format!(
                "rewrite every object of {}",
                rewrite_rules.iter().map(GroupResource::yaml_string).collect::<Vec<_>>().join(", ")
            ),
            why: "reading and writing each object back stores it with the new write provider; until then the old providers still hold data".to_owned(),
            rewrite: rewrite_rules,
        });
    }
    if target.rules != last {
        steps.push(target_step(
            n,
            "after the rewrite nothing is stored with the providers TARGET drops",
        ));
    }

    // Seeds: one phase per reader of CURRENT that does not write, so the rehearsal holds data
    // stored every way CURRENT can read (plaintext from before encryption, older keys); then
    // CURRENT itself.
    let affected: Vec<Concrete> = Concrete::ALL
        .into_iter()
        .filter(|c| {
            chain_for(&current.rules, &c.group_resource())
                != chain_for(&target.rules, &c.group_resource())
        })
        .collect();
    let mut older: Vec<Reader> = Vec::new();
    for c in &affected {
        let chain = chain_for(&current.rules, &c.group_resource());
        for r in chain.iter().skip(1) {
            if !older.contains(r) {
                older.push(r.clone());
            }
        }
    }
    // Plaintext first: data from before encryption was turned on is the oldest.
    older.sort_by_key(|r| !matches!(r, Reader::Identity));
    let mut seeds = Vec::new();
    for (i, reader) in older.iter().enumerate() {
        let rules_i: Vec<(GroupResource, Chain)> = current
            .rules
            .iter()
            .map(|(g, ch)| {
                if ch.iter().skip(1).any(|r| r == reader) {
                    let mut c = vec![reader.clone()];
                    c.extend(ch.iter().filter(|r| *r != reader).cloned());
                    (g.clone(), c)
                } else {
                    (g.clone(), ch.clone())
                }
            })
            .collect();
        let name = format!("seed-{}", i + 1);
        let written = affected
            .iter()
            .map(|c| (*c, chain_for(&rules_i, &c.group_resource())[0].clone()))
            .filter(|(_, r)| r == reader)
            .collect();
        seeds.push(Seed { config: name.clone(), name: name.clone(), written });
        configs.push(named(&name, rules_i));
    }
    seeds.push(Seed {
        config: "current".to_owned(),
        name: "current".to_owned(),
        written: affected
            .iter()
            .map(|c| (*c, chain_for(&current.rules, &c.group_resource())[0].clone()))
            .collect(),
    });
    let uses = |name: &str| steps.iter().any(|s| s.config.as_deref() == Some(name));
    let (use_add, use_promote) = (uses("add"), uses("promote"));
    configs.push(current);
    if use_add {
        configs.push(add);
    }
    if use_promote {
        configs.push(promote);
    }
    configs.push(target);

    let mut notes = Vec::new();
    for c in &changes {
        let concrete = Concrete::ALL.iter().any(|k| k.group_resource() == c.rule);
        if c.from != c.to && !concrete {
            notes.push(format!(
                "{}: the rehearsal writes Secrets and ConfigMaps only; objects of this rule follow the same steps on a real cluster but are not seeded here",
                c.rule.yaml_string()
            ));
        }
    }
    let mut plan = Plan {
        keys,
        options: PlanOptions { apiservers: n, ..options },
        changes,
        configs,
        seeds,
        steps,
        notes,
    };
    if plan.uses_kms() {
        plan.notes.push("a KMS provider takes part: the plan is derived, but the rehearsal cannot prove it yet (no KMS plugin is wired into a rehearsal)".to_owned());
    }
    Ok(plan)
}

fn target_step(n: usize, why: &str) -> PlanStep {
    PlanStep {
        kind: StepKind::Target,
        config: Some("target".to_owned()),
        title: if n > 1 {
            format!("TARGET on all {n} apiservers; restart each")
        } else {
            "TARGET; restart".to_owned()
        },
        why: why.to_owned(),
        rewrite: Vec::new(),
    }
}

/// One line per rule: `secrets: aescbc key1, identity → aescbc key2, identity (key rotation)`.
pub fn describe_changes(changes: &[ResourceChange]) -> Vec<String> {
    changes
        .iter()
        .map(|c| {
            format!(
                "{}: {} → {} ({})",
                c.rule.yaml_string(),
                describe_chain(&c.from),
                describe_chain(&c.to),
                c.what
            )
        })
        .collect()
}
