//! The files of a synthetic family ([`write_family`]): `msa.fasta`,
//! `contacts.tsv`, `teacher.safetensors` and `simulate.json`.
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::{SampleOptions, SampleRun, SamplerStats, Teacher, TeacherParams, TeacherSummary};
use crate::Q;
use crate::alignment::ALPHABET;

/// Letters of a state sequence.
pub fn to_letters(seq: &[u8]) -> String {
    seq.iter()
        .map(|&s| ALPHABET[(s as usize).min(Q - 1)] as char)
        .collect()
}

/// Everything `fadca simulate` reports in `simulate.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SimulateReport {
    /// fadca version.
    pub version: String,
    /// Seed.
    pub seed: u64,
    /// Teacher parameters.
    pub teacher: TeacherParams,
    /// Teacher summary.
    pub teacher_summary: TeacherSummary,
    /// Sampling options as given (None = automatic).
    pub sampling: SampleOptions,
    /// Sampler report.
    pub sampler: SamplerStats,
    /// Records in `msa.fasta` (query + samples).
    pub records: usize,
    /// Wall time of teacher construction (s).
    pub time_teacher_s: f64,
    /// Total wall time (s).
    pub time_total_s: f64,
}

/// A synthetic family in memory: its teacher, the samples and the report
/// `simulate.json` holds ([`simulate_family`]).
#[derive(Debug)]
pub struct SimulatedFamily {
    /// The planted model.
    pub teacher: Teacher,
    /// The query and the samples.
    pub run: SampleRun,
    /// What `simulate.json` records (timings up to the sampling's end).
    pub report: SimulateReport,
}

/// Generates a teacher and samples from it (what [`write_family`] writes).
pub fn simulate_family(
    params: &TeacherParams,
    opts: &SampleOptions,
) -> anyhow::Result<SimulatedFamily> {
    let t0 = Instant::now();
    let teacher = Teacher::generate(params, opts.seed)?;
    let time_teacher_s = t0.elapsed().as_secs_f64();
    let run = teacher.sample(opts)?;
    let report = SimulateReport {
        version: env!("CARGO_PKG_VERSION").to_string(),
        seed: opts.seed,
        teacher: params.clone(),
        teacher_summary: teacher.summary(),
        sampling: opts.clone(),
        sampler: run.stats.clone(),
        records: run.sequences.len() + 1,
        time_teacher_s,
        time_total_s: t0.elapsed().as_secs_f64(),
    };
    Ok(SimulatedFamily {
        teacher,
        run,
        report,
    })
}

impl SimulatedFamily {
    /// The family as the text of `msa.fasta`: the query, then the samples.
    pub fn fasta(&self) -> String {
        let mut out = format!(
            ">query teacher-conditioned-on-no-gaps seed={}\n{}\n",
            self.report.seed,
            to_letters(&self.run.query)
        );
        for (n, (s, k)) in self
            .run
            .sequences
            .iter()
            .zip(&self.run.chain_of)
            .enumerate()
        {
            out.push_str(&format!(">sample{} chain={k}\n{}\n", n + 1, to_letters(s)));
        }
        out
    }
}

/// Generates a teacher, samples from it ([`simulate_family`]), and writes
/// the family into `dir` ([`SimulatedFamily::write`]). Returns the report.
pub fn write_family(
    dir: &Path,
    params: &TeacherParams,
    opts: &SampleOptions,
) -> anyhow::Result<SimulateReport> {
    simulate_family(params, opts)?.write(dir)
}

impl SimulatedFamily {
    /// Writes `msa.fasta`, `contacts.tsv`, `teacher.safetensors` and
    /// `simulate.json` into `dir` (created if needed), each atomically.
    /// Returns the report written (its total time includes the writing).
    pub fn write(&self, dir: &Path) -> anyhow::Result<SimulateReport> {
        let t0 = Instant::now();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output folder {}", dir.display()))?;
        let fasta = self.fasta();
        crate::io::write_atomic(&dir.join("msa.fasta"), |w| {
            Ok(w.write_all(fasta.as_bytes())?)
        })?;
        write_contacts(&dir.join("contacts.tsv"), self.teacher.contacts())?;
        self.teacher.save(&dir.join("teacher.safetensors"))?;
        let report = SimulateReport {
            time_total_s: self.report.time_total_s + t0.elapsed().as_secs_f64(),
            ..self.report.clone()
        };
        crate::io::write_atomic(&dir.join("simulate.json"), |w| {
            serde_json::to_writer_pretty(&mut *w, &report)?;
            writeln!(w)?;
            Ok(())
        })?;
        Ok(report)
    }
}

/// Writes planted contacts (0-based pairs) as `i\tj\tseparation`, 1-based, with a header.
pub fn write_contacts(path: &Path, contacts: &[(usize, usize)]) -> anyhow::Result<()> {
    crate::io::write_atomic(path, |w| {
        writeln!(w, "i\tj\tseparation")?;
        for &(i, j) in contacts {
            writeln!(w, "{}\t{}\t{}", i + 1, j + 1, j - i)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_of_states() {
        let all: Vec<u8> = (0..Q as u8).collect();
        assert_eq!(to_letters(&all), "ARNDCQEGHILKMFPSTWYV-");
        assert_eq!(to_letters(&[2, 20, 0, 99]), "N-A-");
    }

    #[test]
    fn contacts_file_is_one_based_with_separation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contacts.tsv");
        write_contacts(&path, &[(0, 5), (2, 9)]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "i\tj\tseparation\n1\t6\t5\n3\t10\t7\n"
        );
    }

    #[test]
    fn a_family_is_the_teacher_and_its_samples() {
        let dir = tempfile::tempdir().unwrap();
        let params = TeacherParams {
            length: 9,
            heads: 2,
            ..TeacherParams::default()
        };
        let opts = SampleOptions {
            samples: 5,
            chains: 2,
            burn_in: Some(10),
            thin: Some(1),
            seed: 4,
        };
        let report = write_family(dir.path(), &params, &opts).unwrap();
        assert_eq!(report.records, 6);
        let teacher = Teacher::generate(&params, 4).unwrap();
        let run = teacher.sample(&opts).unwrap();
        let mut expected = format!(
            ">query teacher-conditioned-on-no-gaps seed=4\n{}\n",
            to_letters(&run.query)
        );
        for (n, (s, k)) in run.sequences.iter().zip(&run.chain_of).enumerate() {
            expected.push_str(&format!(">sample{} chain={k}\n{}\n", n + 1, to_letters(s)));
        }
        let msa = std::fs::read_to_string(dir.path().join("msa.fasta")).unwrap();
        assert_eq!(msa, expected);
        let saved = Teacher::load(&dir.path().join("teacher.safetensors")).unwrap();
        assert_eq!(saved.fields(), teacher.fields());
        assert_eq!(saved.contacts(), teacher.contacts());
        let contacts = std::fs::read_to_string(dir.path().join("contacts.tsv")).unwrap();
        assert_eq!(contacts.lines().count(), teacher.contacts().len() + 1);
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("simulate.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["records"], 6);
        assert_eq!(json["sampler"]["burn_in"], 10);
        assert_eq!(
            json["teacher_summary"]["contacts"],
            teacher.contacts().len()
        );
    }
}
