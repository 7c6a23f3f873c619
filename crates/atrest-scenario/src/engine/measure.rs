//! Latency measurements (`measure`) and their ratios to a baseline.

use super::*;

impl<C: Cluster> Engine<'_, C> {
    pub(super) async fn measure(
        &mut self,
        m: &MeasureStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let filler: Vec<u8> =
            (0..m.size.value).map(|i| b'a' + u8::try_from(i % 26).unwrap_or(0)).collect();
        let data = Data(BTreeMap::from([("value".to_owned(), filler)]));
        let mut creates = Vec::with_capacity(m.objects.value);
        let mut gets = Vec::with_capacity(m.objects.value);
        let ids: Vec<ObjectRef> = (0..m.objects.value)
            .map(|i| ObjectRef::new(Kind::Secret, "default", format!("{}-{i}", m.name)))
            .collect();
        for id in &ids {
            let object = Object { id: id.clone(), data: data.clone(), resource_version: None };
            let t = Instant::now();
            let answer = self.cluster.create(0, &object).await?;
            creates.push(t.elapsed().as_secs_f64() * 1e6);
            if let Err(e) = answer {
                return Err(StepError::Harness(format!(
                    "measure: create {id}: {}",
                    self.as_reported(&e.message)
                )));
            }
            self.tracked.insert(id.clone(), data.clone());
        }
        for id in &ids {
            let t = Instant::now();
            let answer = self.cluster.get(0, id).await?;
            gets.push(t.elapsed().as_secs_f64() * 1e6);
            if let Err(e) = answer {
                return Err(StepError::Harness(format!(
                    "measure: get {id}: {}",
                    self.as_reported(&e.message)
                )));
            }
        }
        let measurement = Measurement {
            name: m.name.clone(),
            size: m.size.value,
            create: Latency::of(&mut creates),
            get: Latency::of(&mut gets),
            create_p50_ratio: None,
            get_p50_ratio: None,
        };
        rec.note(format!("{n} creates and {n} gets timed", n = m.objects.value));
        if let Some(b) = &m.baseline {
            self.baseline = Some(b.clone());
        }
        self.measurements.push(measurement);
        Ok(())
    }
}

/// Ratios of p50 latencies to the baseline measurement: the one a `measure` step names as
/// `baseline`, else `identity`, else the first one measured.
pub(super) fn finish_ratios(ms: &mut [Measurement], baseline: Option<&str>) {
    let named = |n: &str| ms.iter().find(|m| m.name == n).cloned();
    let Some(base) =
        baseline.and_then(named).or_else(|| named("identity")).or_else(|| ms.first().cloned())
    else {
        return;
    };
    for m in ms.iter_mut() {
        m.create_p50_ratio =
            (base.create.p50_us > 0.0).then(|| m.create.p50_us / base.create.p50_us);
        m.get_p50_ratio = (base.get.p50_us > 0.0).then(|| m.get.p50_us / base.get.p50_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, p50: f64) -> Measurement {
        let l = Latency { count: 1, p50_us: p50, p95_us: p50, p99_us: p50, mean_us: p50 };
        Measurement {
            name: name.to_owned(),
            size: 1,
            create: l.clone(),
            get: l,
            create_p50_ratio: None,
            get_p50_ratio: None,
        }
    }

    #[test]
    fn ratios_against_the_named_baseline_else_identity_else_the_first() {
        let mut ms = vec![m("aescbc", 30.0), m("identity", 10.0), m("secretbox", 20.0)];
        finish_ratios(&mut ms, None);
        assert_eq!(ms[0].create_p50_ratio, Some(3.0));
        finish_ratios(&mut ms, Some("secretbox"));
        assert_eq!(ms[0].get_p50_ratio, Some(1.5));
        let mut ms = vec![m("aescbc", 30.0), m("secretbox", 60.0)];
        finish_ratios(&mut ms, None);
        assert_eq!(ms[1].create_p50_ratio, Some(2.0));
    }
}
