//! Every figure fadca draws, each in its own module, all on one drawing
//! toolkit (`canvas.rs`: RGB canvas, text, PNG writing):
//!
//! * [`contact_map`] — `contact_map.png` of `fadca predict`/`fadca score`:
//!   the native map with the top-L predictions ([`WIDTH`] × [`HEIGHT`]);
//! * [`batch_summary`] — `summary.png` of `fadca batch`: P@L against
//!   M_eff/L over the scored families;
//! * [`sample_complexity`] — `sample_complexity.png` of `fadca experiment
//!   sample-complexity`: NLL gap and planted-contact precision against α.
//!
//! The figures of later stages (batch, experiment) take plain data defined
//! here ([`BatchSummaryFigure`], [`SampleComplexityFigure`]), which those
//! stages build from their own types. Figures are drawn on a plain RGB canvas
//! and encoded with the `png` crate; text is rasterised with `ab_glyph` from
//! DejaVu Sans, which is compiled into the binary (`assets/fonts/`, Bitstream
//! Vera license), so no system font is needed.
pub mod batch_summary;
mod canvas;
pub mod contact_map;
pub mod sample_complexity;

pub use batch_summary::{BatchSummaryFigure, FamilyPoint};
pub use contact_map::{HEIGHT, WIDTH, render_contact_map, write_contact_map};
pub use sample_complexity::{SampleComplexityFigure, SizePoint};
