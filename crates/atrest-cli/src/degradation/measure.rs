//! The rounds: start an apiserver instance for each arm (ABBA order), warm up, time creates and
//! gets (interleaved between the arms' instances, or one instance after the other), prove from
//! etcd which provider wrote.

use super::*;

/// What the rounds do.
pub(super) struct Plan<'a> {
    pub(super) setups: &'a [Setup],
    pub(super) arms: &'a [Arm],
    pub(super) objects: usize,
    pub(super) warmup: usize,
    pub(super) rounds: usize,
    pub(super) design: Design,
    /// Seeds the per-request arm order (interleaved).
    pub(super) seed: u64,
    pub(super) payload: &'a [u8],
    /// Prefix of every object name, unique per run of the design on one cluster.
    pub(super) tag: String,
}

/// Runs `body` on `cluster`, then removes `files` (they hold keys) and stops it, and returns
/// the backend name and what `body` returned. Ctrl-C stops everything started.
pub(super) async fn measure<C: Cluster, T>(
    mut cluster: C,
    files: &[String],
    body: impl AsyncFnOnce(&mut C) -> Result<T>,
) -> Result<(&'static str, T)> {
    let backend = cluster.backend_name();
    let mut signals = Signals::install()?;
    let result = match signals.guard(body(&mut cluster)).await {
        Ok(r) => r,
        Err(stop) => Err(anyhow::anyhow!("{stop}")),
    };
    // The keys are in the config files: gone before any logs are kept (removing a file never
    // written is not an error).
    let mut removed = Ok(());
    for file in files {
        if let Err(e) = cluster.remove_file(file).await {
            removed = removed.and(Err(e));
        }
    }
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

/// Runs `plan.rounds` rounds and stops the apiservers.
pub(super) async fn rounds<C: Cluster>(cluster: &mut C, plan: &Plan<'_>) -> Result<Comparison> {
    let n = plan.arms.len();
    let mut samples: Vec<ArmSamples> = (0..n).map(|_| ArmSamples::default()).collect();
    let mut orders = Vec::with_capacity(plan.rounds);
    for round in 0..plan.rounds {
        let order = schedule(n, round);
        match plan.design {
            Design::Sequential => {
                for &i in &order {
                    let restart = start_arm(cluster, plan, round, i).await?;
                    timed(cluster, plan, round, &[i], &mut samples).await?;
                    report_round(plan, round, i, restart, &samples[i]);
                }
            }
            Design::Interleaved => {
                let mut restarts = vec![Duration::ZERO; n];
                for &i in &order {
                    restarts[i] = start_arm(cluster, plan, round, i).await?;
                }
                timed(cluster, plan, round, &order, &mut samples).await?;
                for &i in &order {
                    report_round(plan, round, i, restarts[i], &samples[i]);
                }
            }
        }
        orders.push(order);
    }
    for i in 0..cluster.apiserver_count() {
        if cluster.is_running(i) {
            cluster.stop_apiserver(i).await.context("stopping the apiserver")?;
        }
    }
    Ok(Comparison { samples, orders })
}

/// The apiserver instance (slot) of arm `i` in `round`: with interleaving, the arms take the
/// slots in turn, one further each round, so that anything particular to one slot falls on
/// every arm alike (measured before this: with arm k always on slot k, the first arm was about
/// 2% slower than the other two in a 20-comparison A/A calibration, cause not found); the one
/// instance otherwise.
fn instance(plan: &Plan<'_>, round: usize, i: usize) -> usize {
    match plan.design {
        Design::Interleaved => (i + round) % plan.arms.len(),
        Design::Sequential => 0,
    }
}

/// Starts arm `i`'s instance afresh with its provider's configuration; returns how long it
/// took.
async fn start_arm<C: Cluster>(
    cluster: &mut C,
    plan: &Plan<'_>,
    round: usize,
    i: usize,
) -> Result<Duration> {
    let t = Instant::now();
    restart_with(cluster, instance(plan, round, i), &plan.setups[plan.arms[i].setup]).await?;
    Ok(t.elapsed())
}

/// The warm-up and the timed creates and gets of `arms` (indices), whose instances run: with
/// more than one arm, request k of every arm is sent before request k + 1 of any, in an order
/// drawn at random for each k (seeded), so that no arm is first, last or after a given other
/// arm more often than chance. Then the first timed object of each arm is read raw from etcd,
/// and the round's objects are deleted.
async fn timed<C: Cluster>(
    cluster: &mut C,
    plan: &Plan<'_>,
    round: usize,
    arms: &[usize],
    samples: &mut [ArmSamples],
) -> Result<()> {
    let data = Data([("value".to_owned(), plan.payload.to_vec())].into_iter().collect());
    // Object names: no `#` (the label's), which a Secret name cannot hold.
    let tag = |i: usize| format!("{}r{round}-a{i}", plan.tag);
    let mut rng = Rng::stream(plan.seed, &format!("order-{}r{round}", plan.tag));
    let mut turn = |_k: usize| shuffled(arms, &mut rng);
    let at = |i: usize| instance(plan, round, i);
    for k in 0..plan.warmup {
        for i in turn(k) {
            let object = object(&format!("warm-{}-{k}", tag(i)), &data);
            create(cluster, at(i), &object).await?;
            get(cluster, at(i), &object.id).await?;
        }
    }
    let name = |i: usize, k: usize| format!("bench-{}-{k}", tag(i));
    for k in 0..plan.objects {
        for i in turn(k) {
            let object = object(&name(i, k), &data);
            let t = Instant::now();
            spend(t, plan.arms[i].delay.create);
            create(cluster, at(i), &object).await?;
            samples[i].create.ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    for k in 0..plan.objects {
        for i in turn(k) {
            let id = ObjectRef::new(Kind::Secret, NAMESPACE, name(i, k));
            let t = Instant::now();
            spend(t, plan.arms[i].delay.get);
            get(cluster, at(i), &id).await?;
            samples[i].get.ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    if plan.objects > 0 {
        for &i in arms {
            let setup = &plan.setups[plan.arms[i].setup];
            check_written_by(cluster, setup.provider, &name(i, 0)).await?;
        }
    }
    // Untimed: the round's objects go, so every round meets a store of the same size (a long
    // calibration writes tens of thousands of Secrets, and a growing store slows every request
    // down, which would shrink a fixed injected delay relative to it over the run).
    for &i in arms {
        let warm = (0..plan.warmup).map(|k| format!("warm-{}-{k}", tag(i)));
        for n in warm.chain((0..plan.objects).map(|k| name(i, k))) {
            let id = ObjectRef::new(Kind::Secret, NAMESPACE, n.as_str());
            cluster
                .delete(at(i), &id)
                .await
                .with_context(|| format!("deleting {id}"))?
                .with_context(|| format!("deleting {id}"))?;
        }
    }
    Ok(())
}

/// `arms` in a random order (Fisher–Yates).
fn shuffled(arms: &[usize], rng: &mut Rng) -> Vec<usize> {
    let mut order = arms.to_vec();
    for j in (1..order.len()).rev() {
        order.swap(j, rng.below(j + 1));
    }
    order
}

/// One line per arm and round on stderr.
fn report_round(plan: &Plan<'_>, round: usize, i: usize, restart: Duration, s: &ArmSamples) {
    let tail = |s: &OpSamples| s.ms[s.ms.len().saturating_sub(plan.objects)..].to_vec();
    eprintln!(
        "round {}/{}: {:<11} restart {:>6.1} s, create p50 {:.3} ms, get p50 {:.3} ms",
        round + 1,
        plan.rounds,
        plan.arms[i].label,
        restart.as_secs_f64(),
        stats::quantile(&tail(&s.create), 0.5).unwrap_or(f64::NAN),
        stats::quantile(&tail(&s.get), 0.5).unwrap_or(f64::NAN),
    );
}

/// Stops apiserver `i` if it runs and starts it with `setup`'s configuration (its own file, so
/// instances of different providers can run at once).
pub(super) async fn restart_with<C: Cluster>(
    cluster: &mut C,
    i: usize,
    setup: &Setup,
) -> Result<()> {
    let name = setup.provider.name();
    if cluster.is_running(i) {
        cluster.stop_apiserver(i).await.context("stopping the apiserver")?;
    }
    let path = config_path(setup.provider);
    cluster
        .write_file(&path, setup.config.as_bytes())
        .await
        .with_context(|| format!("writing the {name} configuration"))?;
    cluster.configure_apiserver(i, ApiServerSpec::with_config(&path))?;
    match cluster.start_apiserver(i).await.with_context(|| format!("starting with {name}"))? {
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

pub(super) async fn create<C: Cluster>(cluster: &mut C, i: usize, object: &Object) -> Result<()> {
    cluster
        .create(i, object)
        .await
        .with_context(|| format!("creating {}", object.id))?
        .with_context(|| format!("creating {}", object.id))?;
    Ok(())
}

pub(super) async fn get<C: Cluster>(cluster: &mut C, i: usize, id: &ObjectRef) -> Result<()> {
    cluster
        .get(i, id)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_orders_are_balanced_and_seeded() {
        let arms = [0, 1, 2];
        let mut rng = Rng::stream(1, "order-test");
        let orders: Vec<Vec<usize>> = (0..6000).map(|_| shuffled(&arms, &mut rng)).collect();
        for o in &orders {
            let mut sorted = o.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, arms, "{o:?} is not a permutation");
        }
        // Every arm in every position, and after every other arm, about equally often.
        for pos in 0..3 {
            for arm in arms {
                let n = orders.iter().filter(|o| o[pos] == arm).count();
                assert!((1800..2200).contains(&n), "arm {arm} at {pos}: {n} of 6000");
            }
        }
        // Of the 17,999 neighbours, an arm follows itself only across two orders (about 667
        // times each), and each other arm about 2,667 times: the same for every pair.
        let flat: Vec<usize> = orders.concat();
        for a in arms {
            for b in arms {
                let n = flat.windows(2).filter(|w| w[0] == a && w[1] == b).count();
                let want = if a == b { 560..780 } else { 2450..2900 };
                assert!(want.contains(&n), "{b} after {a}: {n} of 17999");
            }
        }
        // The same seed and label give the same orders; the sequential design's one arm stays.
        let mut again = Rng::stream(1, "order-test");
        assert_eq!(shuffled(&arms, &mut again), orders[0]);
        assert_eq!(shuffled(&[2], &mut again), [2]);
    }
}
