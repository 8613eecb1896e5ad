//! `contact_map.png`: produced, a valid PNG of the documented size, and the
//! expected colours where native contacts and predictions are.
use fadca::contacts::{Prediction, ScoredPair};
use fadca::plot::{HEIGHT, WIDTH};
use fadca::score::{score_against_structure, write_score_outputs};
use fadca::structure::NativeSource;

use crate::common;

/// Width and height from the IHDR chunk (bytes 16..24), after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

fn prediction(l: usize) -> Prediction {
    // Scores favour pairs on two "strands": j = i + 10 and j = 61 - i.
    let mut pairs = Vec::new();
    for i in 1..=l {
        for j in i + 1..=l {
            let s = if j == i + 10 || i + j == 61 { 1.0 } else { 0.0 }
                + ((i * 31 + j * 17) % 97) as f64 / 1000.0;
            pairs.push(ScoredPair { i, j, score: s });
        }
    }
    Prediction { length: l, pairs }
}

#[test]
fn writes_png_of_expected_size_with_contacts() {
    let l = 60;
    let dir = common::tempdir();
    let list = dir.path().join("native.tsv");
    let mut text = String::from("i j separation\n");
    for i in 1..=50 {
        text.push_str(&format!("{i} {} 10\n", i + 10));
    }
    for i in 1..=25 {
        if i % 3 != 0 {
            text.push_str(&format!("{i} {} {}\n", 61 - i, 61 - 2 * i));
        }
    }
    std::fs::write(&list, text).unwrap();
    let query = "A".repeat(l);
    let pred = prediction(l);
    let report =
        score_against_structure(&query, &pred, &NativeSource::Contacts { path: list }, false)
            .unwrap();
    let out = dir.path().join("out");
    write_score_outputs(&out, &report, &pred).unwrap();
    let bytes = std::fs::read(out.join("contact_map.png")).unwrap();
    assert_eq!(png_size(&bytes), (WIDTH, HEIGHT));
    if let Ok(keep) = std::env::var("FADCA_KEEP_PNG") {
        std::fs::write(keep, &bytes).unwrap();
    }
    // Decode and check a native cell in the lower triangle is grey: (i=20, j=10),
    // i.e. row 20, column 10.
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    let cell = 700.0 / l as f32;
    let px = |row: usize, col: usize| {
        let x = (90.0 + (col as f32 - 0.5) * cell) as usize;
        let y = (80.0 + (row as f32 - 0.5) * cell) as usize;
        let k = (y * WIDTH as usize + x) * 3;
        [buf[k], buf[k + 1], buf[k + 2]]
    };
    assert_eq!(px(20, 10), [170, 170, 170]);
    // Upper triangle (i=10, j=20) is a predicted true positive: blue.
    assert_eq!(px(10, 20), [31, 90, 200]);
    // A non-contact far from everything stays white.
    assert_eq!(px(55, 2), [255, 255, 255]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("score.json")).unwrap()).unwrap();
    assert!(json["precision"]["all"]["L"].is_number());
}
