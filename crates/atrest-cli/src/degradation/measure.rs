//! The rounds: start an apiserver instance for each arm in turn (ABBA order), warm up, time
//! creates and gets, prove from etcd which provider wrote.

use super::*;

/// What the rounds do.
pub(super) struct Plan<'a> {
    pub(super) setups: &'a [Setup],
    pub(super) arms: &'a [Arm],
    pub(super) objects: usize,
    pub(super) warmup: usize,
    pub(super) rounds: usize,
    pub(super) payload: &'a [u8],
    /// Prefix of every object name, unique per run of the design on one cluster.
    pub(super) tag: String,
}

/// Runs `body` on `cluster`, then stops it, and returns the backend name and what `body`
/// returned. Ctrl-C stops everything started.
pub(super) async fn measure<C: Cluster, T>(
    mut cluster: C,
    body: impl AsyncFnOnce(&mut C) -> Result<T>,
) -> Result<(&'static str, T)> {
    let backend = cluster.backend_name();
    let mut signals = Signals::install()?;
    let result = match signals.guard(body(&mut cluster)).await {
        Ok(r) => r,
        Err(stop) => Err(anyhow::anyhow!("{stop}")),
    };
    // The keys are in the config file: gone before any logs are kept.
    let removed = cluster.remove_file(CONFIG_PATH).await;
    match result {
        Ok(done) => {
            removed.context("removing the encryption configuration")?;
            teardown(cluster, false).await.stopped.context("stopping the cluster")?;
            Ok((backend, done))
        }
        Err(e) => {
            let down = teardown(cluster, removed.is_ok()).await;
            down.warn_if_unclean();
            let logs = down.logs.map(|l| format!(" (logs kept in {})", l.display()));
            Err(e.context(format!(
                "measuring on {backend}; everything started is stopped{}",
                logs.unwrap_or_default()
            )))
        }
    }
}

/// The arm order of `round` among `n` arms: rounds come in pairs, the second the reverse of
/// the first, and each pair is rotated by one from the previous (for two arms: AB BA BA AB),
/// so that every arm runs early and late equally often.
pub(super) fn schedule(n: usize, round: usize) -> Vec<usize> {
    let shift = round / 2;
    let order = (0..n).map(|i| (i + shift) % n);
    if round.is_multiple_of(2) { order.collect() } else { order.rev().collect() }
}

/// Waits on the monotonic clock until `delay` has passed since `start` (a spin, not a sleep:
/// a timer would add its own granularity, tens of µs or more, to a delay of about 100 µs).
fn spend(start: Instant, delay: Duration) {
    while start.elapsed() < delay {
        std::hint::spin_loop();
    }
}

/// Runs `plan.rounds` rounds and stops the apiserver.
pub(super) async fn rounds<C: Cluster>(cluster: &mut C, plan: &Plan<'_>) -> Result<Comparison> {
    let n = plan.arms.len();
    let mut samples: Vec<ArmSamples> = (0..n).map(|_| ArmSamples::default()).collect();
    let mut orders = Vec::with_capacity(plan.rounds);
    let data = Data([("value".to_owned(), plan.payload.to_vec())].into_iter().collect());
    for round in 0..plan.rounds {
        let order = schedule(n, round);
        for &i in &order {
            let arm = &plan.arms[i];
            let setup = &plan.setups[arm.setup];
            let name = &arm.label;
            let restart = Instant::now();
            restart_with(cluster, setup).await?;
            let restart = restart.elapsed();
            // Object names: no `#` (the label's), which a Secret name cannot hold.
            let tag = format!("{}r{round}-a{i}", plan.tag);
            for k in 0..plan.warmup {
                let object = object(&format!("warm-{tag}-{k}"), &data);
                create(cluster, &object).await?;
                get(cluster, &object.id).await?;
            }
            let names: Vec<String> =
                (0..plan.objects).map(|k| format!("bench-{tag}-{k}")).collect();
            let out = &mut samples[i];
            let phase = Instant::now();
            for k in &names {
                let object = object(k, &data);
                let t = Instant::now();
                spend(t, arm.delay.create);
                create(cluster, &object).await?;
                out.create.ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            out.create.wall += phase.elapsed();
            let phase = Instant::now();
            for k in &names {
                let id = ObjectRef::new(Kind::Secret, NAMESPACE, k.as_str());
                let t = Instant::now();
                spend(t, arm.delay.get);
                get(cluster, &id).await?;
                out.get.ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            out.get.wall += phase.elapsed();
            if let Some(first) = names.first() {
                check_written_by(cluster, setup.provider, first).await?;
            }
            let tail = |s: &OpSamples| s.ms[s.ms.len() - plan.objects..].to_vec();
            eprintln!(
                "round {}/{}: {name:<11} restart {:>6.1} s, create p50 {:.3} ms, get p50 {:.3} ms",
                round + 1,
                plan.rounds,
                restart.as_secs_f64(),
                stats::quantile(&tail(&out.create), 0.5).unwrap_or(f64::NAN),
                stats::quantile(&tail(&out.get), 0.5).unwrap_or(f64::NAN),
            );
        }
        orders.push(order);
    }
    if let Some(i) = (0..cluster.apiserver_count()).find(|&i| cluster.is_running(i)) {
        cluster.stop_apiserver(i).await.context("stopping the apiserver")?;
    }
    Ok(Comparison { samples, orders })
}

/// Stops the apiserver if it runs and starts it with `setup`'s configuration.
pub(super) async fn restart_with<C: Cluster>(cluster: &mut C, setup: &Setup) -> Result<()> {
    let name = setup.provider.name();
    if cluster.is_running(0) {
        cluster.stop_apiserver(0).await.context("stopping the apiserver")?;
    }
    cluster
        .write_file(CONFIG_PATH, setup.config.as_bytes())
        .await
        .with_context(|| format!("writing the {name} configuration"))?;
    cluster.configure_apiserver(0, ApiServerSpec::with_config(CONFIG_PATH))?;
    match cluster.start_apiserver(0).await.with_context(|| format!("starting with {name}"))? {
        Ok(()) => Ok(()),
        Err(failure) => bail!("the apiserver with {name} first did not become ready: {failure:?}"),
    }
}

pub(super) fn object(name: &str, data: &Data) -> Object {
    Object {
        id: ObjectRef::new(Kind::Secret, NAMESPACE, name),
        data: data.clone(),
        resource_version: None,
    }
}

pub(super) async fn create<C: Cluster>(cluster: &mut C, object: &Object) -> Result<()> {
    cluster
        .create(0, object)
        .await
        .with_context(|| format!("creating {}", object.id))?
        .with_context(|| format!("creating {}", object.id))?;
    Ok(())
}

pub(super) async fn get<C: Cluster>(cluster: &mut C, id: &ObjectRef) -> Result<()> {
    cluster
        .get(0, id)
        .await
        .with_context(|| format!("getting {id}"))?
        .with_context(|| format!("getting {id}"))?;
    Ok(())
}

/// Reads `name` raw from etcd: its prefix must be `provider`'s, else the numbers would be
/// attributed to the wrong provider.
pub(super) async fn check_written_by<C: Cluster>(
    cluster: &mut C,
    provider: Provider,
    name: &str,
) -> Result<()> {
    let key = ObjectRef::new(Kind::Secret, NAMESPACE, name).etcd_key(cluster.etcd_prefix());
    let entry = cluster
        .raw_get(&key)
        .await
        .with_context(|| format!("reading {key} from etcd"))?
        .with_context(|| format!("{key} is not in etcd"))?;
    let ok = match provider {
        // kube-apiserver's protobuf envelope, unencrypted.
        Provider::Identity => entry.value.starts_with(b"k8s\0"),
        Provider::Kms => entry.value.starts_with(format!("k8s:enc:kms:v2:{KMS_NAME}:").as_bytes()),
        p => {
            entry.value.starts_with(format!("k8s:enc:{}:v1:{}:", p.name(), p.key_name()).as_bytes())
        }
    };
    if !ok {
        bail!(
            "{key} was not written by {}: the configuration did not take effect",
            provider.name()
        );
    }
    Ok(())
}
