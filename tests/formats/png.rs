//! `contact_map.png`: produced, a valid PNG of the documented size, and the
//! expected colours where native contacts and predictions are; the SVG
//! beside it carries the title.
use fadca::contacts::{Prediction, ScoredPair};
use fadca::plot::contact_map::cell_centre;
use fadca::plot::{HEIGHT, WIDTH, palette};
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
    let written = write_score_outputs(&out, &report, &pred, "toy", true).unwrap();
    assert_eq!(
        written,
        vec!["score.json", "contact_map.png", "contact_map.svg"]
    );
    let bytes = std::fs::read(out.join("contact_map.png")).unwrap();
    assert_eq!(png_size(&bytes), (WIDTH, HEIGHT));
    if let Ok(keep) = std::env::var("FADCA_KEEP_PNG") {
        std::fs::write(keep, &bytes).unwrap();
    }
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    assert_eq!(buf.len(), (WIDTH * HEIGHT * 3) as usize);
    let px = |row: usize, col: usize| {
        let (x, y) = cell_centre(l, row, col);
        let k = (y as usize * WIDTH as usize + x as usize) * 3;
        [buf[k], buf[k + 1], buf[k + 2]]
    };
    let rgb = |c: plotters::style::RGBColor| [c.0, c.1, c.2];
    // Upper triangle (i=10, j=20) is a predicted true positive: blue.
    assert_eq!(px(10, 20), rgb(palette::BLUE));
    // A native contact of the upper triangle outside the top L: grey.
    let top: Vec<(usize, usize)> = pred.top(l, 6, None).iter().map(|p| (p.i, p.j)).collect();
    let missed: Vec<(usize, usize)> = (1..=50)
        .map(|i| (i, i + 10))
        .filter(|p| !top.contains(p))
        .collect();
    assert!(!missed.is_empty());
    for (i, j) in missed {
        assert_eq!(px(i, j), rgb(palette::NATIVE), "({i}, {j})");
    }
    // Below the diagonal, (20, 10) is among the best 3L scores: a ramp colour
    // (yellow to brown: red >= green >= blue, not white).
    let [r, g, b] = px(20, 10);
    assert!(
        r >= g && g >= b && [r, g, b] != [255, 255, 255],
        "{:?}",
        [r, g, b]
    );
    // A non-contact far from everything stays white.
    assert_eq!(px(2, 55), [255, 255, 255]);
    // The SVG carries the title, with the family name.
    let svg = std::fs::read_to_string(out.join("contact_map.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..60]);
    assert!(
        svg.contains("toy: top-L contacts (L = 60"),
        "title in the SVG"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("score.json")).unwrap()).unwrap();
    assert!(json["precision"]["all"]["L"].is_number());
}
