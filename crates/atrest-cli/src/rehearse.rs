//! `atrest rehearse --from CURRENT --to TARGET`: plan the safe path between two
//! EncryptionConfigurations, prove it on a backend, show what the naive direct switch does,
//! and write the plan as a runbook.
//!
//! Exit codes: 0 the plan held on the backend and the naive switch did what the model
//! predicted; 1 a config does not load, no safe path exists, an expectation failed, or the
//! backend disagreed with the prediction; 2 harness error.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use atrest_config::lint;
use atrest_config::load::{self, LoadOptions};
use atrest_rehearse::{Plan, PlanError, PlanOptions, Prediction, StepKind};
use atrest_scenario::{BoundKeys, Outcome as RunOutcome, Report, RunOptions, Scenario};
use serde_json::json;

use crate::Outcome;
use crate::images::ImageArgs;
use crate::out::{out, outln};
use crate::scenario::{Backend, ReportFormat, run_one};

/// `atrest rehearse`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The EncryptionConfiguration the cluster runs today.
    #[arg(long, value_name = "CURRENT.yaml")]
    from: PathBuf,
    /// The EncryptionConfiguration you want.
    #[arg(long, value_name = "TARGET.yaml")]
    to: PathBuf,
    /// Where to prove the plan.
    #[arg(long, value_enum, default_value_t)]
    backend: Backend,
    /// How many apiservers share the etcd (1 to 16): more than one adds the step that teaches
    /// every server the new key before any writes with it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    apiservers: u16,
    /// Objects seeded per resource and per way CURRENT stores them (1 to 1000).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=1000))]
    objects: u16,
    /// Format of the report on standard output.
    #[arg(long, value_enum, default_value_t)]
    report: ReportFormat,
    /// Write the runbook to DIR: the intermediate configs in order (placeholders where the keys
    /// are), the commands per step, `rehearsal.yaml` to rerun with `atrest scenario`, and the
    /// reports.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Plan and write the runbook only; prove nothing.
    #[arg(long)]
    plan_only: bool,
    #[command(flatten)]
    images: ImageArgs,
}

fn load_config(path: &Path, which: &str) -> Result<Option<atrest_config::EncryptionConfiguration>> {
    let shown = path.to_string_lossy().into_owned();
    match load::load(&shown, crate::input::read_config(path), &LoadOptions::default()) {
        Ok(l) => Ok(Some(l.config)),
        Err(e) => {
            eprintln!("{which} {shown} does not load; kube-apiserver would exit with:");
            eprintln!("  err=\"{}\"", e.to_string().replace('\\', "\\\\").replace('"', "\\\""));
            if e.upstream_prints_key_material() {
                eprintln!("  note: {}", crate::check_config::KEY_EXPOSED_NOTE);
            }
            eprintln!("  `atrest check-config {shown}` shows the line and column.");
            Ok(None)
        }
    }
}

/// `atrest rehearse`.
pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let (Some(from), Some(to)) =
        (load_config(&args.from, "CURRENT")?, load_config(&args.to, "TARGET")?)
    else {
        return Ok(Outcome::Failed);
    };
    for l in lint::lint(&to) {
        eprintln!("warning[{}]: TARGET {}: {}", l.code.code(), l.field, l.message);
    }
    let options = PlanOptions {
        apiservers: usize::from(args.apiservers),
        objects: usize::from(args.objects),
    };
    let plan = match atrest_rehearse::plan(&from, &to, options) {
        Ok(p) => p,
        Err(e @ PlanError::Unsafe { .. }) => {
            eprintln!("{e}");
            return Ok(Outcome::Failed);
        }
        Err(e) => bail!("{e}"),
    };
    let (from_name, to_name) = (display_name(&args.from), display_name(&args.to));
    if args.report == ReportFormat::Text {
        out!("{}", plan_text(&plan, &from_name, &to_name))?;
    }
    if let Some(dir) = &args.out {
        write_runbook(dir, &plan, &from_name, &to_name)?;
    }
    if plan.is_noop() {
        if args.report == ReportFormat::Text {
            outln!(
                "CURRENT and TARGET read and write every resource the same way: nothing to do."
            )?;
        } else {
            emit_structured(args, &plan, None, None, None)?;
        }
        return Ok(Outcome::Ok);
    }
    if plan.affected().is_empty() {
        eprintln!(
            "Secrets and ConfigMaps read and write the same way under both configs, and the rehearsal writes only those: nothing to prove on a backend (the runbook still applies to the other resources)."
        );
        if args.report != ReportFormat::Text {
            emit_structured(args, &plan, None, None, None)?;
        }
        return Ok(Outcome::Ok);
    }
    if args.plan_only {
        if args.report != ReportFormat::Text {
            emit_structured(args, &plan, None, None, None)?;
        }
        return Ok(Outcome::Ok);
    }
    let Some(prediction) = atrest_rehearse::predict(&plan) else {
        bail!(
            "the plan uses a KMS provider, and no backend runs a KMS plugin yet: use --plan-only for the runbook"
        );
    };
    let rehearsal = parse("rehearsal", &plan.rehearsal_scenario(&from_name, &to_name))?;
    let naive = parse("naive-switch", &plan.naive_scenario(&from_name, &to_name, &prediction))?;
    let opts = RunOptions { bound_keys: BoundKeys(plan.keys.bindings()), ..RunOptions::default() };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let quiet = args.report != ReportFormat::Text;
    let proved = runtime.block_on(run_one(&rehearsal, &opts, args.backend, &args.images, quiet))?;
    let naive_report =
        runtime.block_on(run_one(&naive, &opts, args.backend, &args.images, quiet))?;
    if let Some(dir) = &args.out {
        for r in [&proved, &naive_report] {
            let stem = format!("{}.{}", r.scenario, r.backend);
            crate::files::write_output(&dir.join(format!("{stem}.txt")), r.to_text())?;
            crate::files::write_output(&dir.join(format!("{stem}.json")), r.to_json())?;
        }
    }
    match args.report {
        ReportFormat::Text => {
            out!("{}", verdict_text(&plan, &prediction, &proved, &naive_report, args))?;
        }
        _ => emit_structured(args, &plan, Some(&prediction), Some(&proved), Some(&naive_report))?,
    }
    let worst = proved.outcome.exit_code().max(naive_report.outcome.exit_code());
    Ok(match worst {
        0 => Outcome::Ok,
        1 => Outcome::Failed,
        _ => Outcome::Error,
    })
}

fn display_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into_owned())
}

fn parse(name: &str, text: &str) -> Result<Scenario> {
    atrest_scenario::parse_with(Path::new(&format!("{name}.yaml")), text, |p| {
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, p.display().to_string()))
    })
    .with_context(|| format!("atrest rendered a {name} scenario it cannot read (a bug)"))
}

fn plan_text(plan: &Plan, from: &str, to: &str) -> String {
    let n = plan.options.apiservers;
    let mut s = format!(
        "Rehearsal of {from} → {to} ({n} apiserver{})\n\nWhat changes\n",
        if n == 1 { "" } else { "s" }
    );
    for line in atrest_rehearse::describe_changes(&plan.changes) {
        s.push_str(&format!("  {line}\n"));
    }
    s.push_str("\nPlan\n");
    let mut i = 0;
    for step in plan.steps.iter().filter(|s| s.kind != StepKind::Current) {
        i += 1;
        s.push_str(&format!("  {i}. {}\n     {}\n", step.title, step.why));
        if let Some(cfg) = step.config.as_deref().and_then(|c| plan.config(c)) {
            for (rule, chain) in &cfg.rules {
                s.push_str(&format!(
                    "     {}: {}\n",
                    rule.yaml_string(),
                    atrest_rehearse::describe_chain(chain)
                ));
            }
        }
    }
    for note in &plan.notes {
        s.push_str(&format!("  note: {note}\n"));
    }
    s.push('\n');
    s
}

fn prediction_lines(prediction: &Prediction) -> Vec<String> {
    let mut lines = vec![if prediction.ready {
        "the apiserver becomes ready".to_owned()
    } else if prediction.never_ready() {
        "the apiserver runs but never becomes ready (the Secrets watch cache cannot list an unreadable object)"
            .to_owned()
    } else {
        "the apiserver runs but is not ready until --storage-initialization-timeout (1m by default) passes (the ConfigMaps watch cache cannot list an unreadable object)"
            .to_owned()
    }];
    for o in &prediction.outcomes {
        let who = if o.group == "kube-system" {
            format!("{} the apiserver wrote in kube-system", o.resource.resource())
        } else {
            format!("{} {}-*", o.resource.resource(), o.group)
        };
        lines.push(match &o.error {
            Some(e) => format!("{who} (stored by {}): unreadable: {e}", o.written),
            None if o.stale => {
                format!("{who} (stored by {}): readable, stays there until rewritten", o.written)
            }
            None => format!("{who} (stored by {}): readable", o.written),
        });
    }
    lines
}

fn verdict_text(
    plan: &Plan,
    prediction: &Prediction,
    proved: &Report,
    naive: &Report,
    args: &Args,
) -> String {
    let (held, failed) = proved.check_counts();
    let mut s = format!(
        "Proof on {}: {} ({} steps, {held} checks held, {failed} failed; after every restart and rewrite every object read back unchanged through every apiserver)\n",
        proved.backend,
        outcome_word(proved.outcome),
        proved.steps.len()
    );
    if proved.outcome != RunOutcome::Passed {
        s.push_str(&proved.to_text());
    }
    s.push_str(&format!("\nNaive switch ({} applied directly):\n", display_name(&args.to)));
    for line in prediction_lines(prediction) {
        s.push_str(&format!("  predicted: {line}\n"));
    }
    s.push_str(&format!(
        "  on {}: {}\n",
        naive.backend,
        match naive.outcome {
            RunOutcome::Passed => "as predicted".to_owned(),
            RunOutcome::Failed =>
                "NOT as predicted (a bug in atrest's model; report below)".to_owned(),
            RunOutcome::Error => "harness error (report below)".to_owned(),
        }
    ));
    if naive.outcome != RunOutcome::Passed {
        s.push_str(&naive.to_text());
    }
    let logs: Vec<&str> = [proved, naive].iter().filter_map(|r| r.logs.as_deref()).collect();
    for l in logs {
        s.push_str(&format!("logs kept in {l}\n"));
    }
    s.push_str(&format!(
        "\nVerdict: {}; the naive switch {}.\n",
        if proved.outcome == RunOutcome::Passed {
            format!("the {}-step plan is safe", plan.steps.len() - 1)
        } else {
            "the plan did NOT hold".to_owned()
        },
        if prediction.is_safe() { "is safe too" } else { "breaks" }
    ));
    if args.out.is_none() {
        s.push_str("Write the runbook with --out DIR.\n");
    }
    s
}

fn outcome_word(o: RunOutcome) -> &'static str {
    match o {
        RunOutcome::Passed => "PASSED",
        RunOutcome::Failed => "FAILED",
        RunOutcome::Error => "ERROR",
    }
}

fn emit_structured(
    args: &Args,
    plan: &Plan,
    prediction: Option<&Prediction>,
    proved: Option<&Report>,
    naive: Option<&Report>,
) -> Result<()> {
    match args.report {
        ReportFormat::Junit => {
            let reports: Vec<&Report> = [proved, naive].into_iter().flatten().collect();
            outln!("{}", Report::junit_of(&reports))?;
        }
        _ => {
            let to_value = |r: Option<&Report>| {
                r.map(|r| {
                    serde_json::from_str::<serde_json::Value>(&r.to_json()).unwrap_or_default()
                })
            };
            let steps: Vec<_> = plan
                .steps
                .iter()
                .filter(|s| s.kind != StepKind::Current)
                .map(|s| {
                    json!({
                        "title": s.title,
                        "why": s.why,
                        "config": s.config,
                        "rewrite": s.rewrite.iter().map(|r| r.yaml_string()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let value = json!({
                "from": args.from.display().to_string(),
                "to": args.to.display().to_string(),
                "apiservers": plan.options.apiservers,
                "changes": atrest_rehearse::describe_changes(&plan.changes),
                "steps": steps,
                "notes": plan.notes,
                "naivePrediction": prediction.map(prediction_lines),
                "naiveSafe": prediction.map(Prediction::is_safe),
                "rehearsal": to_value(proved),
                "naive": to_value(naive),
            });
            outln!("{}", serde_json::to_string_pretty(&value)?)?;
        }
    }
    Ok(())
}

fn write_runbook(dir: &Path, plan: &Plan, from: &str, to: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let runbook = plan.runbook(from, to);
    for (name, text) in &runbook.files {
        crate::files::write_output(&dir.join(name), text)?;
    }
    eprintln!("runbook written to {} ({} files)", dir.display(), runbook.files.len());
    Ok(())
}
