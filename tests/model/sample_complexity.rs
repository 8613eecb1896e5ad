//! The student–teacher gap shrinks as the number of training sequences
//! grows (the sample-complexity claim, SPEC §6): for one teacher (L = 20,
//! H = 4, β = 0.4, seed 1) and students trained on nested sets of M = 200,
//! 800 and 3000 sequences, the held-out per-site NLL gap to the teacher
//! decreases strictly with M, stays positive on held-out data (the true
//! conditionals are the best possible in expectation), and planted-contact
//! precision does not fall. Every student gets about 200 optimiser steps
//! (`epochs = 1`, `min_steps = 200`) so that the comparison is about data,
//! not training time.
use fadca::experiment::{SampleComplexityConfig, plot, sample_complexity, write_tsv};

use crate::common;

#[test]
fn gap_to_the_teacher_shrinks_as_m_grows() {
    let _torch = common::torch_globals();
    let mut cfg = SampleComplexityConfig::defaults();
    cfg.sizes = vec![200, 800, 3000];
    cfg.held_out = 500;
    cfg.train.epochs = Some(1);
    cfg.train.batch_size = Some(128);
    cfg.min_steps = 200;
    let report = sample_complexity(&cfg, &mut |_| {}).unwrap();
    let rows = &report.rows;
    assert_eq!(
        rows.iter().map(|r| r.m).collect::<Vec<_>>(),
        [200, 800, 3000]
    );
    for r in rows {
        eprintln!(
            "M {:>5}  student {:.4}  teacher {:.4}  gap {:+.4}  precision {:.3}  steps {}",
            r.m, r.student_nll, r.teacher_nll, r.gap, r.precision_top_l, r.steps
        );
        assert!((r.gap - (r.student_nll - r.teacher_nll)).abs() < 1e-12);
        assert!(r.gap > 0.0, "held-out gap must be positive: {r:?}");
        assert!(r.steps >= 200);
    }
    assert!(
        rows[0].gap > rows[1].gap && rows[1].gap > rows[2].gap,
        "{rows:?}"
    );
    assert!(
        rows[2].precision_top_l >= rows[0].precision_top_l,
        "{rows:?}"
    );
    assert!(rows[2].precision_top_l >= 0.8, "{rows:?}");

    // The files: TSV with a header and one line per M, a PNG of the right size.
    let dir = common::tempdir();
    let tsv = dir.path().join("sample_complexity.tsv");
    write_tsv(&tsv, rows).unwrap();
    let text = std::fs::read_to_string(&tsv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("alpha\tM\tstudent_nll\tteacher_nll\tgap\tprecision_top_l"));
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("10.0000\t200\t"), "{}", lines[1]);
    let png = dir.path().join("sample_complexity.png");
    let written = plot::write_png(&png, &report, true).unwrap();
    assert_eq!(
        written,
        vec![png.clone(), dir.path().join("sample_complexity.svg")]
    );
    let svg = std::fs::read_to_string(dir.path().join("sample_complexity.svg")).unwrap();
    assert!(
        svg.contains("Sample complexity: teacher L = "),
        "the title is in the SVG"
    );
    let (width, height, pixels) = common::decode_png(&png);
    assert_eq!((width, height), (plot::WIDTH, plot::HEIGHT));
    assert!(pixels.iter().any(|&b| b != 255), "something is drawn");
}
