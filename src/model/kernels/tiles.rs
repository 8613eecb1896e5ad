//! Register-tiled products of the factored table, reading and writing the
//! table's rows where they lie: the rows of one position from the
//! attention and the values ([`position_rows`]), the attention's gradient
//! at one position ([`position_attention_gradient`]) and the values'
//! gradient of one state ([`state_value_gradient`]).
//!
//! The three products are H deep (H = 32 heads by default) and were
//! general matrix products (`matrixmultiply`) on a block gathered per
//! position: on the DEV benchmark the packing of their operands and the
//! gathers took as long as the arithmetic. Here a tile of results stays
//! in vector registers (the heads, padded to [`HEAD_LANES`], or a row's
//! 21 states on the lanes), the other operand is broadcast from where it
//! lies, and each result is stored once. The vectors are explicit
//! (the kernels' `vector` module).
use super::vector::Vector;
use crate::Q;

/// Lanes the heads are padded to (a multiple of every vector width).
pub const HEAD_LANES: usize = 32;

/// The heads rounded up to a multiple of [`HEAD_LANES`].
pub fn padded_heads(heads: usize) -> usize {
    heads.div_ceil(HEAD_LANES) * HEAD_LANES
}

/// Rows of `heads` values (`[x][h]`) padded with zeros to `hp`.
pub fn pad_heads(src: &[f32], heads: usize, hp: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; src.len() / heads * hp];
    for (dst, row) in out.chunks_exact_mut(hp).zip(src.chunks_exact(heads)) {
        dst[..heads].copy_from_slice(row);
    }
    out
}

/// Lanes a row's 21 states are padded to in [`position_rows`]' values.
pub const STATE_LANES: usize = 32;

/// The rows `(j,b)` for `b` in `states` of one position j in a block of
/// columns (`rows`: the position's q rows of w = sites·q floats; the
/// other rows are left as they are): `W[(j,b),(i,a)] = Σ_h A[i][h] ·
/// V_b[h][a]`, with `a_ih` the attention of the block's sites at j
/// (`[i][h]`, sites×H) and `values` the values per state in `states`'
/// order, `[k][h][a]` with the states padded to [`STATE_LANES`]
/// (|states|·H·32; lanes 21.. are ignored). A row's 21 states on the
/// lanes waste a third of them; putting a block's states and entries
/// `(k, a)` on the lanes instead (nearly whole vectors) was no faster:
/// writing the table is what takes the time.
pub fn position_rows(
    a_ih: &[f32],
    values: &[f32],
    states: &[usize],
    heads: usize,
    rows: &mut [f32],
) {
    let w = rows.len() / Q;
    assert_eq!(rows.len(), Q * w);
    assert_eq!(w % Q, 0);
    assert_eq!(a_ih.len(), w / Q * heads);
    assert_eq!(values.len(), states.len() * heads * STATE_LANES);
    assert!(states.iter().all(|&b| b < Q));
    by_level!(
        rows_tiles(a_ih: &[f32], values: &[f32], states: &[usize], heads: usize, rows: &mut [f32]),
        [8, 2],
        [4, 3],
        [4, 21]
    );
}

/// [`position_rows`] in tiles of T sites, NV vectors covering the states.
#[inline(always)]
unsafe fn rows_tiles<V: Vector, const T: usize, const NV: usize>(
    a_ih: &[f32],
    values: &[f32],
    states: &[usize],
    heads: usize,
    rows: &mut [f32],
) {
    debug_assert!(NV * V::LANES >= Q && NV * V::LANES <= STATE_LANES);
    let w = rows.len() / Q;
    let sites = w / Q;
    let per_state = heads * STATE_LANES;
    let mut i0 = 0;
    while i0 < sites {
        let whole = sites - i0 >= T;
        for (k, &b) in states.iter().enumerate() {
            let v = &values[k * per_state..(k + 1) * per_state];
            let out = &mut rows[b * w + i0 * Q..(b + 1) * w];
            unsafe {
                if whole {
                    rows_tile::<V, T, NV>(&a_ih[i0 * heads..], v, heads, out);
                } else {
                    rows_tile::<V, 1, NV>(&a_ih[i0 * heads..], v, heads, out);
                }
            }
        }
        i0 += if whole { T } else { 1 };
    }
}

/// `out[t·q + a] = Σ_h a[t·H + h] · v[h·32 + a]` for T sites t.
#[inline(always)]
unsafe fn rows_tile<V: Vector, const T: usize, const NV: usize>(
    a: &[f32],
    v: &[f32],
    heads: usize,
    out: &mut [f32],
) {
    assert!(a.len() >= T * heads && v.len() >= heads * STATE_LANES && out.len() >= T * Q);
    unsafe {
        let mut acc = [[V::zero(); NV]; T];
        for h in 0..heads {
            let mut vh = [V::zero(); NV];
            for (n, x) in vh.iter_mut().enumerate() {
                *x = V::load(v.as_ptr().add(h * STATE_LANES + n * V::LANES));
            }
            for (t, row) in acc.iter_mut().enumerate() {
                let x = V::splat(*a.get_unchecked(t * heads + h));
                for (r, &y) in row.iter_mut().zip(&vh) {
                    *r = x.mul_add(y, *r);
                }
            }
        }
        let mut lanes = [0.0f32; STATE_LANES];
        for (t, row) in acc.iter().enumerate() {
            for (n, x) in row.iter().enumerate() {
                x.store(lanes.as_mut_ptr().add(n * V::LANES));
            }
            out[t * Q..(t + 1) * Q].copy_from_slice(&lanes[..Q]);
        }
    }
}

/// The attention's gradient at one position j for the block's sites i:
/// `out[i][h] = Σ_{b ∈ states} Σ_a G[(j,b),(i,a)] · V^h(a,b)` (`out`:
/// sites×H, overwritten), with `rows` the position's q rows of the table's
/// gradient (only those of `states` read) and `values` the values laid out
/// `[b][a][h]` with the heads padded to hp, a multiple of [`HEAD_LANES`]
/// (q·q·hp).
pub fn position_attention_gradient(
    rows: &[f32],
    values: &[f32],
    states: &[usize],
    heads: usize,
    out: &mut [f32],
) {
    let w = rows.len() / Q;
    assert_eq!(rows.len(), Q * w);
    assert_eq!(w % Q, 0);
    assert_eq!(out.len(), w / Q * heads);
    let hp = values.len() / (Q * Q);
    assert_eq!(values.len(), Q * Q * hp);
    assert!(hp.is_multiple_of(HEAD_LANES) && hp >= heads);
    assert!(states.iter().all(|&b| b < Q));
    by_level!(
        gradient_tiles(rows: &[f32], values: &[f32], states: &[usize], heads: usize, out: &mut [f32]),
        [8, 2],
        [3, 4],
        [4, 32]
    );
}

/// [`position_attention_gradient`] in tiles of T sites and 32 heads (NH
/// vectors).
#[inline(always)]
unsafe fn gradient_tiles<V: Vector, const T: usize, const NH: usize>(
    rows: &[f32],
    values: &[f32],
    states: &[usize],
    heads: usize,
    out: &mut [f32],
) {
    debug_assert_eq!(NH * V::LANES, HEAD_LANES);
    let w = rows.len() / Q;
    let sites = w / Q;
    let hp = values.len() / (Q * Q);
    let mut i0 = 0;
    while i0 < sites {
        let whole = sites - i0 >= T;
        for h0 in (0..heads).step_by(HEAD_LANES) {
            let tile = GradientTile {
                rows,
                w,
                i0,
                values,
                hp,
                h0,
                lanes: HEAD_LANES.min(heads - h0),
            };
            let out = &mut out[i0 * heads..];
            unsafe {
                if whole {
                    gradient_tile::<V, T, NH>(&tile, states, heads, out);
                } else {
                    gradient_tile::<V, 1, NH>(&tile, states, heads, out);
                }
            }
        }
        i0 += if whole { T } else { 1 };
    }
}

/// Where a tile of [`position_attention_gradient`] reads and writes: the
/// rows (w floats each) from site `i0`, the padded values (`hp` lanes)
/// from head `h0`, `lanes` heads written.
struct GradientTile<'a> {
    rows: &'a [f32],
    w: usize,
    i0: usize,
    values: &'a [f32],
    hp: usize,
    h0: usize,
    lanes: usize,
}

/// `out[t·H + h0 + l] = Σ_b Σ_a G[b][(i0+t)·q + a] · V[b][a][h0 + l]` for
/// T sites t and the tile's heads l.
#[inline(always)]
unsafe fn gradient_tile<V: Vector, const T: usize, const NH: usize>(
    tile: &GradientTile,
    states: &[usize],
    heads: usize,
    out: &mut [f32],
) {
    assert!(tile.i0 + T <= tile.w / Q && out.len() >= T * heads);
    assert!(tile.h0 + HEAD_LANES <= tile.hp);
    unsafe {
        let mut acc = [[V::zero(); NH]; T];
        for &b in states {
            // In bounds: b < q, i0 + T ≤ sites (checked by the callers and above).
            let g = tile.rows.as_ptr().add(b * tile.w + tile.i0 * Q);
            let v = tile.values.as_ptr().add(b * Q * tile.hp + tile.h0);
            for a in 0..Q {
                let mut va = [V::zero(); NH];
                for (n, x) in va.iter_mut().enumerate() {
                    *x = V::load(v.add(a * tile.hp + n * V::LANES));
                }
                for (t, row) in acc.iter_mut().enumerate() {
                    let x = V::splat(*g.add(t * Q + a));
                    for (r, &y) in row.iter_mut().zip(&va) {
                        *r = x.mul_add(y, *r);
                    }
                }
            }
        }
        let mut lanes = [0.0f32; HEAD_LANES];
        for (t, row) in acc.iter().enumerate() {
            for (n, x) in row.iter().enumerate() {
                x.store(lanes.as_mut_ptr().add(n * V::LANES));
            }
            let start = t * heads + tile.h0;
            out[start..start + tile.lanes].copy_from_slice(&lanes[..tile.lanes]);
        }
    }
}

/// What [`state_value_gradient`] reads: a block of columns of the table's
/// gradient (`table`, n×w for the sites `first..first + w/q`), the
/// attention laid out `[j][i][hp]` (L·L·hp, the heads padded with zeros to
/// hp, a multiple of [`HEAD_LANES`]) and the rows that hold a gradient
/// (`present`, bit b of `present[j]` for the row `(j,b)`).
pub struct ValueGradientInput<'a> {
    /// The block of the table's gradient.
    pub table: &'a [f32],
    /// The padded attention.
    pub attention: &'a [f32],
    /// Heads after padding.
    pub hp: usize,
    /// The rows that hold a gradient.
    pub present: &'a [u32],
    /// The block's first site.
    pub first: usize,
}

/// The values' gradient for one state b: `out[a][h] = Σ_j Σ_i A^h_ij ·
/// G[(j,b),(i,a)]` over the positions j with the row `(j,b)` and the
/// block's sites i (`out`: q×hp, overwritten), summed in the order of j
/// and i in registers. (Each position's share of all states added to a
/// `dV` per task, right after its `dA` while its rows are in cache, was
/// slower: the shares' additions cost more than the second read.)
pub fn state_value_gradient(input: &ValueGradientInput, b: usize, out: &mut [f32]) {
    let hp = input.hp;
    let l = input.present.len();
    let w = input.table.len() / (l * Q);
    assert_eq!(input.table.len(), l * Q * w);
    assert_eq!(w % Q, 0);
    assert!(input.first + w / Q <= l);
    assert_eq!(hp % HEAD_LANES, 0);
    assert_eq!(input.attention.len(), l * l * hp);
    assert!(b < Q);
    assert_eq!(out.len(), Q * hp);
    by_level!(
        value_passes(input: &ValueGradientInput, b: usize, out: &mut [f32]),
        [7, 2],
        [3, 4],
        [7, 32]
    );
}

/// [`state_value_gradient`] in passes of S states a (S divides q) and 32
/// heads (NH vectors).
#[inline(always)]
unsafe fn value_passes<V: Vector, const S: usize, const NH: usize>(
    input: &ValueGradientInput,
    b: usize,
    out: &mut [f32],
) {
    debug_assert_eq!(NH * V::LANES, HEAD_LANES);
    debug_assert_eq!(Q % S, 0);
    let l = input.present.len();
    let hp = input.hp;
    let w = input.table.len() / (l * Q);
    let sites = w / Q;
    for h0 in (0..hp).step_by(HEAD_LANES) {
        for a0 in (0..Q).step_by(S) {
            unsafe {
                let mut acc = [[V::zero(); NH]; S];
                for (j, &mask) in input.present.iter().enumerate() {
                    if mask & (1 << b) == 0 {
                        continue;
                    }
                    // In bounds: the row (j,b) and the block's sites'
                    // attention at j (checked by the caller).
                    let g = input.table.as_ptr().add((j * Q + b) * w + a0);
                    let a = input
                        .attention
                        .as_ptr()
                        .add((j * l + input.first) * hp + h0);
                    for i in 0..sites {
                        let mut ai = [V::zero(); NH];
                        for (n, x) in ai.iter_mut().enumerate() {
                            *x = V::load(a.add(i * hp + n * V::LANES));
                        }
                        for (s, row) in acc.iter_mut().enumerate() {
                            let x = V::splat(*g.add(i * Q + s));
                            for (r, &y) in row.iter_mut().zip(&ai) {
                                *r = x.mul_add(y, *r);
                            }
                        }
                    }
                }
                for (s, row) in acc.iter().enumerate() {
                    for (n, x) in row.iter().enumerate() {
                        x.store(out.as_mut_ptr().add((a0 + s) * hp + h0 + n * V::LANES));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::vector::tests::at_every_level;

    fn value(k: usize, salt: usize) -> f32 {
        ((k * 37 + salt * 11) % 29) as f32 * 0.05 - 0.7
    }

    #[test]
    fn tiles_match_their_definitions_on_every_instruction_set() {
        // 11 sites: one tile of 8 and three single sites; 5 heads (one
        // partial chunk of 32) and 40 (a whole chunk and a partial one).
        let (l, sites, first) = (13, 11, 1);
        let w = sites * Q;
        let states = [0usize, 4, 20];
        let present: Vec<u32> = (0..l)
            .map(|j| if j % 3 == 1 { 1 << 4 } else { 0x10_0011 })
            .collect();
        for heads in [5usize, 40] {
            let hp = heads.div_ceil(HEAD_LANES) * HEAD_LANES;
            let a = |j: usize, i: usize, h: usize| value((j * l + i) * heads + h, 1);
            let v = |h: usize, aa: usize, b: usize| value((h * Q + aa) * Q + b, 2);
            let g = |r: usize, c: usize| value(r * w + c, 3);
            // Rows: W[(j,b),(i,a)] = Σ_h A[i][h] V_b[h][a] at j = 2.
            let a_ih: Vec<f32> = (0..sites * heads)
                .map(|k| a(2, first + k / heads, k % heads))
                .collect();
            let mut values = vec![0.0f32; states.len() * heads * STATE_LANES];
            for (k, &b) in states.iter().enumerate() {
                for h in 0..heads {
                    for aa in 0..Q {
                        values[(k * heads + h) * STATE_LANES + aa] = v(h, aa, b);
                    }
                }
            }
            let rows = at_every_level(|| {
                let mut rows = vec![9.0f32; Q * w];
                position_rows(&a_ih, &values, &states, heads, &mut rows);
                rows
            });
            for b in 0..Q {
                for i in 0..sites {
                    for aa in 0..Q {
                        let got = rows[b * w + i * Q + aa];
                        if !states.contains(&b) {
                            assert_eq!(got, 9.0, "row {b} not of the states written");
                            continue;
                        }
                        let want: f64 = (0..heads)
                            .map(|h| f64::from(a(2, first + i, h)) * f64::from(v(h, aa, b)))
                            .sum();
                        assert!(
                            (f64::from(got) - want).abs() < 1e-4,
                            "W[{b}][{i},{aa}] {got} vs {want}"
                        );
                    }
                }
            }
            // The attention's gradient at j = 2 from its rows of G.
            let g_rows: Vec<f32> = (0..Q * w).map(|k| g(2 * Q + k / w, k % w)).collect();
            let mut v_bah = vec![0.0f32; Q * Q * hp];
            for b in 0..Q {
                for aa in 0..Q {
                    for h in 0..heads {
                        v_bah[(b * Q + aa) * hp + h] = v(h, aa, b);
                    }
                }
            }
            let d_a = at_every_level(|| {
                let mut out = vec![f32::NAN; sites * heads];
                position_attention_gradient(&g_rows, &v_bah, &states, heads, &mut out);
                out
            });
            for i in 0..sites {
                for h in 0..heads {
                    let want: f64 = states
                        .iter()
                        .flat_map(|&b| (0..Q).map(move |aa| (b, aa)))
                        .map(|(b, aa)| f64::from(g(2 * Q + b, i * Q + aa)) * f64::from(v(h, aa, b)))
                        .sum();
                    let got = f64::from(d_a[i * heads + h]);
                    assert!((got - want).abs() < 1e-4, "dA[{i}][{h}] {got} vs {want}");
                }
            }
            // The values' gradient summed over the positions' rows (state 4
            // at every position, 0 and 20 at two positions in three).
            let table: Vec<f32> = (0..l * Q * w).map(|k| g(k / w, k % w)).collect();
            let mut attention = vec![0.0f32; l * l * hp];
            for j in 0..l {
                for i in 0..l {
                    for h in 0..heads {
                        attention[(j * l + i) * hp + h] = a(j, i, h);
                    }
                }
            }
            let input = ValueGradientInput {
                table: &table,
                attention: &attention,
                hp,
                present: &present,
                first,
            };
            for b in 0..Q {
                let d_v = at_every_level(|| {
                    let mut out = vec![f32::NAN; Q * hp];
                    state_value_gradient(&input, b, &mut out);
                    out
                });
                for aa in 0..Q {
                    for h in 0..heads {
                        let want: f64 = (0..l)
                            .filter(|&j| present[j] & (1 << b) != 0)
                            .flat_map(|j| (0..sites).map(move |i| (j, i)))
                            .map(|(j, i)| {
                                f64::from(a(j, first + i, h)) * f64::from(g(j * Q + b, i * Q + aa))
                            })
                            .sum();
                        let got = f64::from(d_v[aa * hp + h]);
                        assert!(
                            (got - want).abs() < 1e-4,
                            "dV[{b}][{aa}][{h}] {got} vs {want}"
                        );
                    }
                    let padding = &d_v[aa * hp + heads..(aa + 1) * hp];
                    assert!(padding.iter().all(|&x| x == 0.0), "padded heads");
                }
            }
        }
    }
}
