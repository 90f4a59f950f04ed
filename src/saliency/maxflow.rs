//! Boykov–Kolmogorov max-flow / min-cut specialised for an 8-connected
//! `W × H` pixel grid (`reference/saliency.md` §3.2).
//!
//! Written from the paper (Boykov & Kolmogorov, "An Experimental Comparison
//! of Min-Cut/Max-Flow Algorithms for Energy Minimization in Vision",
//! TPAMI 26(9), 2004): two search trees grow from the source and the sink
//! through unsaturated residual edges; when they touch, the path is
//! augmented by its bottleneck; nodes cut off by saturated edges become
//! orphans and are re-adopted within their tree (choosing the valid parent
//! closest to the terminal, with the timestamp/distance marking heuristic),
//! or freed.
//!
//! Grid specialisation: every node has exactly eight potential neighbours,
//! stored as eight residual capacities per node. The nodes live in a grid
//! padded by one node on each side, so neighbour access needs no bounds
//! checks (the padding nodes have no capacity and never join a tree). The
//! reverse of the edge leaving `p` in direction `d` is the edge leaving
//! `p + offset[d]` in direction `7 - d`.
//!
//! Capacities are generic over [`Capacity`]: `f64` (what OpenCV's `grabCut`
//! uses) or `f32` (what the reference's Kolmogorov maxflow uses, §3 step 5b).
//! The flow value is always accumulated in `f64`.

use std::collections::VecDeque;
use std::ops::{Add, Sub};

/// Direction of a neighbour: `(dx, dy)` for each of the 8 directions. The
/// opposite of direction `d` is `7 - d`.
pub const DIRS: [(i32, i32); 8] = [
    (-1, -1), // 0: up-left
    (0, -1),  // 1: up
    (1, -1),  // 2: up-right
    (-1, 0),  // 3: left
    (1, 0),   // 4: right
    (-1, 1),  // 5: down-left
    (0, 1),   // 6: down
    (1, 1),   // 7: down-right
];
/// Direction index: the neighbour at (x−1, y−1).
pub const UP_LEFT: usize = 0;
/// Direction index: the neighbour at (x, y−1).
pub const UP: usize = 1;
/// Direction index: the neighbour at (x+1, y−1).
pub const UP_RIGHT: usize = 2;
/// Direction index: the neighbour at (x−1, y).
pub const LEFT: usize = 3;
/// Direction index: the neighbour at (x+1, y).
pub const RIGHT: usize = 4;
/// Direction index: the neighbour at (x−1, y+1).
pub const DOWN_LEFT: usize = 5;
/// Direction index: the neighbour at (x, y+1).
pub const DOWN: usize = 6;
/// Direction index: the neighbour at (x+1, y+1).
pub const DOWN_RIGHT: usize = 7;

/// The direction opposite to `d`.
#[inline]
pub const fn opposite(d: usize) -> usize {
    7 - d
}

/// A capacity type for [`GridGraph`]: `f32` or `f64`.
pub trait Capacity:
    Copy + PartialOrd + Add<Output = Self> + Sub<Output = Self> + Default + Send + Sync + 'static
{
    /// Zero.
    const ZERO: Self;
    /// Widening conversion for the flow accumulator.
    fn to_f64(self) -> f64;
}

impl Capacity for f32 {
    const ZERO: Self = 0.0;
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Capacity for f64 {
    const ZERO: Self = 0.0;
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
}

const FREE: u8 = 0;
const SOURCE: u8 = 1;
const SINK: u8 = 2;

// `parent` values 0..8 are directions (from the node to its parent).
const TERMINAL: u8 = 8;
const ORPHAN: u8 = 9;
const NO_PARENT: u8 = 10;

/// Bit of `tree` marking a node that is in the active queue.
const QUEUED: u8 = 0x80;
const TREE_MASK: u8 = 0x03;

#[inline]
fn min<T: Capacity>(a: T, b: T) -> T {
    if b < a { b } else { a }
}

/// Max-flow / min-cut on an 8-connected `width × height` grid.
///
/// Node `i = y * width + x`. The source side of the cut is the
/// "foreground" side in GrabCut. Build once, then set terminal and edge
/// capacities and call [`maxflow`](Self::maxflow); capacities may be changed
/// and `maxflow` called again (it restarts from zero flow, reusing the
/// buffers, unless only terminal capacities changed: see
/// [`set_terminals`](Self::set_terminals)).
///
/// Layout: the per-node search state is kept in separate compact arrays
/// (`parent` is one byte per node) so that the long tree walks of the
/// augmentation and adoption stages stay in cache.
#[derive(Clone)]
pub struct GridGraph<T: Capacity = f64> {
    width: usize,
    height: usize,
    stride: usize,
    /// ⌈2⁶⁴ / width⌉, for the division in `padded`.
    div_magic: u128,
    offsets: [isize; 8],
    /// User capacities of the n-links, padded layout.
    cap: Vec<[T; 8]>,
    /// User terminal capacities (source, sink), padded layout.
    term: Vec<(T, T)>,
    /// Residual n-link capacities, padded layout.
    rcap: Vec<[T; 8]>,
    /// Residual terminal capacity: > 0 means s→node, < 0 means node→t.
    tr: Vec<T>,
    /// Direction to the parent (0..8), or `TERMINAL` / `ORPHAN` / `NO_PARENT`.
    parent: Vec<u8>,
    /// `FREE`, `SOURCE` or `SINK`, plus the `QUEUED` bit.
    tree: Vec<u8>,
    /// Timestamp of the last distance computation.
    ts: Vec<u32>,
    /// Distance (in edges) to the tree's terminal, valid when `ts` is recent.
    dist: Vec<u32>,
    active: VecDeque<u32>,
    orphans: VecDeque<u32>,
    /// Scratch: the nodes of the current augmenting path.
    path: Vec<u32>,
    time: u32,
    flow: f64,
    /// The last solve was warm: its flow value is the cut's capacity.
    flow_is_cut: bool,
    solved: bool,
    /// `rcap`/`tr` hold the residual graph of a maximum flow for the current
    /// n-links, with `tr` kept up to date by `set_terminals`: the next
    /// `maxflow` can start from it.
    warm: bool,
}

impl<T: Capacity> GridGraph<T> {
    /// A grid with all capacities zero.
    pub fn new(width: usize, height: usize) -> Self {
        let stride = width + 2;
        let n = stride * (height + 2);
        assert!(n < u32::MAX as usize, "grid too large");
        assert!(width < u32::MAX as usize, "grid too wide");
        let s = stride as isize;
        let mut offsets = [0isize; 8];
        for (o, &(dx, dy)) in offsets.iter_mut().zip(DIRS.iter()) {
            *o = dy as isize * s + dx as isize;
        }
        GridGraph {
            width,
            height,
            stride,
            div_magic: if width == 0 {
                0
            } else {
                (1u128 << 64).div_ceil(width as u128)
            },
            offsets,
            cap: vec![[T::ZERO; 8]; n],
            term: vec![(T::ZERO, T::ZERO); n],
            rcap: vec![[T::ZERO; 8]; n],
            tr: vec![T::ZERO; n],
            parent: vec![NO_PARENT; n],
            tree: vec![FREE; n],
            ts: vec![0; n],
            dist: vec![0; n],
            active: VecDeque::new(),
            orphans: VecDeque::new(),
            path: Vec::new(),
            time: 0,
            flow: 0.0,
            flow_is_cut: false,
            solved: false,
            warm: false,
        }
    }

    /// Grid width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Grid height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Number of (non-terminal) nodes, `width * height`.
    pub fn len(&self) -> usize {
        self.width * self.height
    }

    /// Whether the grid has no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `i / width` by multiplication (exact for i < 2³², Lemire et al. 2019).
    #[inline]
    fn row_of(&self, i: usize) -> usize {
        let y = ((i as u128 * self.div_magic) >> 64) as usize;
        debug_assert_eq!(y, i / self.width);
        y
    }

    #[inline]
    fn padded(&self, i: usize) -> usize {
        debug_assert!(i < self.len());
        // (y + 1) * (width + 2) + (i − y·width) + 1
        i + 2 * self.row_of(i) + self.stride + 1
    }

    /// Whether node `i` has a neighbour in direction `dir`.
    #[inline]
    pub fn has_neighbor(&self, i: usize, dir: usize) -> bool {
        if i >= self.len() {
            return false;
        }
        let y = self.row_of(i);
        let x = i - y * self.width;
        let (dx, dy) = DIRS[dir];
        let nx = x.wrapping_add_signed(dx as isize);
        let ny = y.wrapping_add_signed(dy as isize);
        nx < self.width && ny < self.height
    }

    /// Set node `i`'s terminal capacities (replacing earlier values):
    /// `source_cap` on the edge s→i and `sink_cap` on i→t. Negative values
    /// are not allowed.
    ///
    /// After a [`maxflow`](Self::maxflow), changing only terminal capacities
    /// keeps the residual graph: the next `maxflow` starts from the previous
    /// flow (the t-links are reparametrised, as in Kohli & Torr's dynamic
    /// graph cuts) and from the previous search trees, of which only the
    /// nodes whose terminal residual changed sign are moved (Kolmogorov's
    /// `reuse_trees`). That is much faster than a cold start even when every
    /// terminal capacity changes, as between GrabCut's iterations.
    #[inline]
    pub fn set_terminals(&mut self, i: usize, source_cap: T, sink_cap: T) {
        debug_assert!(source_cap >= T::ZERO && sink_cap >= T::ZERO);
        let p = self.padded(i);
        if self.warm {
            let (s0, t0) = self.term[p];
            self.tr[p] = self.tr[p] + ((source_cap - sink_cap) - (s0 - t0));
        }
        self.term[p] = (source_cap, sink_cap);
        self.solved = false;
    }

    /// [`set_terminals`](Self::set_terminals) on every node in order, with
    /// the capacities `f(i)`, without the per-node index arithmetic.
    pub fn set_all_terminals(&mut self, mut f: impl FnMut(usize) -> (T, T)) {
        let mut i = 0;
        for y in 0..self.height {
            let row = (y + 1) * self.stride + 1;
            for p in row..row + self.width {
                let (source_cap, sink_cap) = f(i);
                debug_assert!(source_cap >= T::ZERO && sink_cap >= T::ZERO);
                if self.warm {
                    let (s0, t0) = self.term[p];
                    self.tr[p] = self.tr[p] + ((source_cap - sink_cap) - (s0 - t0));
                }
                self.term[p] = (source_cap, sink_cap);
                i += 1;
            }
        }
        self.solved = false;
    }

    /// Set the capacity of the edge from node `i` to its neighbour in
    /// direction `dir` to `cap`, and of the reverse edge to `rev_cap`
    /// (replacing earlier values). Directions that leave the grid are
    /// ignored.
    #[inline]
    pub fn set_edge(&mut self, i: usize, dir: usize, cap: T, rev_cap: T) {
        debug_assert!(cap >= T::ZERO && rev_cap >= T::ZERO);
        if !self.has_neighbor(i, dir) {
            return;
        }
        let p = self.padded(i);
        let q = (p as isize + self.offsets[dir]) as usize;
        self.cap[p][dir] = cap;
        self.cap[q][opposite(dir)] = rev_cap;
        self.solved = false;
        self.warm = false;
    }

    /// Set an undirected n-link: capacity `w` in both directions.
    #[inline]
    pub fn set_nlink(&mut self, i: usize, dir: usize, w: T) {
        self.set_edge(i, dir, w, w);
    }

    /// The capacity set on the edge from `i` in direction `dir` (zero off the grid).
    pub fn edge_cap(&self, i: usize, dir: usize) -> T {
        if !self.has_neighbor(i, dir) {
            return T::ZERO;
        }
        self.cap[self.padded(i)][dir]
    }

    /// The terminal capacities set on node `i`: (source, sink).
    pub fn terminals(&self, i: usize) -> (T, T) {
        self.term[self.padded(i)]
    }

    /// Set every capacity (terminal and n-link) back to zero.
    pub fn clear(&mut self) {
        self.cap.fill([T::ZERO; 8]);
        self.term.fill((T::ZERO, T::ZERO));
        self.solved = false;
        self.warm = false;
    }

    /// Make the next [`maxflow`](Self::maxflow) start from zero flow
    /// instead of the previous residual graph.
    pub fn reset_flow(&mut self) {
        self.warm = false;
    }

    /// The flow value of the last [`maxflow`](Self::maxflow) or
    /// [`solve`](Self::solve) call.
    pub fn flow(&self) -> f64 {
        if self.flow_is_cut {
            self.cut_capacity()
        } else {
            self.flow
        }
    }

    /// Whether node `i` is on the source side of the minimum cut found by
    /// the last [`maxflow`](Self::maxflow): every node not in the sink search
    /// tree (nodes in neither tree go to the source side, as in Kolmogorov's
    /// `what_segment` default).
    #[inline]
    pub fn is_source_side(&self, i: usize) -> bool {
        debug_assert!(self.solved, "call maxflow() first");
        self.tree[self.padded(i)] & TREE_MASK != SINK
    }

    /// [`is_source_side`](Self::is_source_side) of every node, in node order.
    pub fn source_sides(&self) -> impl Iterator<Item = bool> + '_ {
        debug_assert!(self.solved, "call maxflow() first");
        (0..self.height).flat_map(move |y| {
            let row = (y + 1) * self.stride + 1;
            self.tree[row..row + self.width]
                .iter()
                .map(|&t| t & TREE_MASK != SINK)
        })
    }

    /// The capacity of the cut returned by [`is_source_side`](Self::is_source_side),
    /// from the user capacities (equals the flow value up to rounding).
    pub fn cut_capacity(&self) -> f64 {
        debug_assert!(self.solved, "call maxflow() first");
        let mut c = 0.0;
        for y in 0..self.height {
            let row = (y + 1) * self.stride + 1;
            for p in row..row + self.width {
                let (s, t) = self.term[p];
                if self.tree[p] & TREE_MASK == SINK {
                    c += s.to_f64();
                    continue;
                }
                c += t.to_f64();
                // Padding nodes are never in the sink tree.
                for d in 0..8 {
                    if self.tree[self.nbr(p, d)] & TREE_MASK == SINK {
                        c += self.cap[p][d].to_f64();
                    }
                }
            }
        }
        c
    }

    /// Compute the maximum flow from the source to the sink and the minimum
    /// cut; returns the flow value.
    ///
    /// Starts from zero flow, or, when only terminal capacities changed since
    /// the last call, from the previous residual graph and search trees (see
    /// [`set_terminals`](Self::set_terminals)); the cut is the same either
    /// way, as the sink side (the nodes that can still reach the sink) is the
    /// same for every maximum flow.
    pub fn maxflow(&mut self) -> f64 {
        self.solve();
        self.flow()
    }

    /// [`maxflow`](Self::maxflow) without the flow value: after a warm start
    /// the value is only known as the cut's capacity, an extra pass over the
    /// graph that [`flow`](Self::flow) makes on demand.
    pub fn solve(&mut self) {
        let warm = self.warm;
        if warm {
            self.reuse_trees();
        } else {
            self.init();
            self.push_to_neighbours();
        }
        // Roots that lost their terminal capacity in `reuse_trees`.
        while let Some(o) = self.orphans.pop_front() {
            if self.parent[o as usize] == ORPHAN {
                self.adopt(o as usize);
            }
        }
        let mut current: Option<usize> = None;
        loop {
            // Pick an active node (the current one stays active after an
            // augmentation, as in the paper's implementation).
            let p = match current.take() {
                Some(p) if self.tree[p] & TREE_MASK != FREE => p,
                _ => match self.next_active() {
                    Some(p) => p,
                    None => break,
                },
            };
            // Growth stage.
            let Some((sp, tq, d)) = self.grow(p) else {
                continue;
            };
            current = Some(p);
            // Augmentation stage.
            self.time += 1;
            self.augment(sp, tq, d);
            // Adoption stage.
            while let Some(o) = self.orphans.pop_front() {
                self.adopt(o as usize);
            }
        }
        self.solved = true;
        self.warm = true;
        // The pre-cancelled terminal flow of a warm start is not tracked:
        // `flow` uses max-flow = min-cut.
        self.flow_is_cut = warm;
    }

    /// Cold start, before the tree search: push flow along every path
    /// s → p → q → t of two neighbours, one with residual source capacity and
    /// one with residual sink capacity, then make the trees' roots. On the
    /// SaliencyCut graphs (n-links much larger than the t-link differences)
    /// this moves about a tenth of the flow and saves as many of the long
    /// augmenting paths. The minimum cut does not depend on how a maximum
    /// flow was reached.
    fn push_to_neighbours(&mut self) {
        let mut flow = 0.0;
        for y in 0..self.height {
            let row = (y + 1) * self.stride + 1;
            for p in row..row + self.width {
                if self.tr[p] <= T::ZERO {
                    continue;
                }
                for d in 0..8 {
                    let q = self.nbr(p, d);
                    let tq = self.tr[q];
                    let c = self.rcap[p][d];
                    // Padding nodes have no terminal capacity.
                    if tq >= T::ZERO || c <= T::ZERO {
                        continue;
                    }
                    let b = min(min(self.tr[p], T::ZERO - tq), c);
                    self.rcap[p][d] = c - b;
                    self.rcap[q][opposite(d)] = self.rcap[q][opposite(d)] + b;
                    self.tr[p] = self.tr[p] - b;
                    self.tr[q] = tq + b;
                    flow += b.to_f64();
                    if self.tr[p] <= T::ZERO {
                        break;
                    }
                }
            }
        }
        self.flow += flow;
        self.init_trees();
    }

    /// Warm start keeping the search trees of the last solve (Kolmogorov's
    /// `reuse_trees`): only nodes whose terminal residual no longer matches
    /// their tree are moved. At the end of a solve every root has a residual
    /// terminal capacity of its tree's sign and every other node none.
    fn reuse_trees(&mut self) {
        self.active.clear();
        self.orphans.clear();
        self.time += 1;
        let time = self.time;
        for y in 0..self.height {
            let row = (y + 1) * self.stride + 1;
            for p in row..row + self.width {
                let tr = self.tr[p];
                let want = if tr > T::ZERO {
                    SOURCE
                } else if tr < T::ZERO {
                    SINK
                } else {
                    // No terminal capacity left: a root loses its parent.
                    if self.parent[p] == TERMINAL {
                        self.parent[p] = ORPHAN;
                        self.orphans.push_back(p as u32);
                    }
                    continue;
                };
                let tree = self.tree[p] & TREE_MASK;
                if tree != want {
                    if tree != FREE {
                        // p leaves its tree: its children there lose their
                        // parent, and the old tree's neighbours that p's
                        // residual edges join (q→p in the source tree, p→q
                        // in the sink tree) must look at p again.
                        for d in 0..8 {
                            let q = self.nbr(p, d);
                            if self.tree[q] & TREE_MASK != tree {
                                continue;
                            }
                            if self.parent[q] as usize == opposite(d) {
                                self.parent[q] = ORPHAN;
                                self.orphans.push_back(q as u32);
                            }
                            let c = if tree == SOURCE {
                                self.rcap[q][opposite(d)]
                            } else {
                                self.rcap[p][d]
                            };
                            if c > T::ZERO {
                                self.push_active(q);
                            }
                        }
                    }
                    self.tree[p] = want | (self.tree[p] & QUEUED);
                    self.push_active(p);
                }
                self.parent[p] = TERMINAL;
                self.ts[p] = time;
                self.dist[p] = 1;
            }
        }
    }

    /// Build the search trees afresh from the residual graph: every node with
    /// residual terminal capacity is an active root, every other node free.
    fn init_trees(&mut self) {
        self.active.clear();
        self.orphans.clear();
        self.time = 0;
        for y in 0..self.height {
            let row = (y + 1) * self.stride + 1;
            for p in row..row + self.width {
                self.ts[p] = 0;
                self.dist[p] = 1;
                let tr = self.tr[p];
                let tree = if tr > T::ZERO {
                    SOURCE
                } else if tr < T::ZERO {
                    SINK
                } else {
                    self.tree[p] = FREE;
                    self.parent[p] = NO_PARENT;
                    continue;
                };
                self.tree[p] = tree | QUEUED;
                self.parent[p] = TERMINAL;
                self.active.push_back(p as u32);
            }
        }
    }

    /// Cold start: the residual graph of the zero flow, with each node's
    /// two terminal capacities cancelled against each other (their minimum
    /// is flow already).
    fn init(&mut self) {
        self.rcap.copy_from_slice(&self.cap);
        let mut flow = 0.0;
        for y in 0..self.height {
            let row = (y + 1) * self.stride + 1;
            for p in row..row + self.width {
                let (s, t) = self.term[p];
                self.tr[p] = s - t;
                flow += min(s, t).to_f64();
            }
        }
        self.flow = flow;
    }

    #[inline]
    fn push_active(&mut self, p: usize) {
        if self.tree[p] & QUEUED == 0 {
            self.tree[p] |= QUEUED;
            self.active.push_back(p as u32);
        }
    }

    #[inline(never)] // measured: keeping the BK stages out of line is ~10% faster
    fn next_active(&mut self) -> Option<usize> {
        while let Some(p) = self.active.pop_front() {
            let t = &mut self.tree[p as usize];
            *t &= !QUEUED;
            if *t != FREE {
                return Some(p as usize);
            }
        }
        None
    }

    #[inline]
    fn nbr(&self, p: usize, d: usize) -> usize {
        p.wrapping_add_signed(self.offsets[d])
    }

    /// Grow the tree of `p` through its unsaturated edges. Returns the
    /// touching edge as (source-tree node, sink-tree node, direction from the
    /// first to the second) when the trees meet.
    #[inline(never)] // measured: keeping the BK stages out of line is ~10% faster
    fn grow(&mut self, p: usize) -> Option<(usize, usize, usize)> {
        let tp = self.tree[p] & TREE_MASK;
        let (ts_p, dist_p) = (self.ts[p], self.dist[p]);
        let is_src = tp == SOURCE;
        for d in 0..8 {
            let q = self.nbr(p, d);
            // Residual capacity of the tree edge p→q (source tree) or q→p (sink tree).
            let c = if is_src {
                self.rcap[p][d]
            } else {
                self.rcap[q][opposite(d)]
            };
            if c <= T::ZERO {
                continue;
            }
            let tq = self.tree[q] & TREE_MASK;
            if tq == FREE {
                self.tree[q] = tp | (self.tree[q] & QUEUED);
                self.parent[q] = opposite(d) as u8;
                self.ts[q] = ts_p;
                self.dist[q] = dist_p + 1;
                self.push_active(q);
            } else if tq != tp {
                return Some(if is_src {
                    (p, q, d)
                } else {
                    (q, p, opposite(d))
                });
            } else if self.ts[q] <= ts_p && self.dist[q] > dist_p {
                // Shorter path to the terminal through p.
                self.parent[q] = opposite(d) as u8;
                self.ts[q] = ts_p;
                self.dist[q] = dist_p + 1;
            }
        }
        None
    }

    #[inline]
    fn set_orphan_front(&mut self, x: usize) {
        self.parent[x] = ORPHAN;
        self.orphans.push_front(x as u32);
    }

    #[inline(never)] // measured: keeping the BK stages out of line is ~10% faster
    fn augment(&mut self, sp: usize, tq: usize, d: usize) {
        // Bottleneck, recording the path: source side from sp up to its
        // root, then sink side from tq up to its root.
        let mut path = std::mem::take(&mut self.path);
        path.clear();
        let mut b = self.rcap[sp][d];
        let mut x = sp;
        loop {
            let pd = self.parent[x];
            if pd == TERMINAL {
                b = min(b, self.tr[x]);
                break;
            }
            path.push(x as u32);
            let y = self.nbr(x, pd as usize);
            b = min(b, self.rcap[y][opposite(pd as usize)]);
            x = y;
        }
        let s_root = x;
        let s_len = path.len();
        let mut x = tq;
        loop {
            let pd = self.parent[x];
            if pd == TERMINAL {
                b = min(b, T::ZERO - self.tr[x]);
                break;
            }
            path.push(x as u32);
            b = min(b, self.rcap[x][pd as usize]);
            x = self.nbr(x, pd as usize);
        }
        let t_root = x;
        // Push.
        self.rcap[sp][d] = self.rcap[sp][d] - b;
        self.rcap[tq][opposite(d)] = self.rcap[tq][opposite(d)] + b;
        for &x in &path[..s_len] {
            let x = x as usize;
            let pd = self.parent[x] as usize;
            let y = self.nbr(x, pd);
            let od = opposite(pd);
            self.rcap[x][pd] = self.rcap[x][pd] + b;
            self.rcap[y][od] = self.rcap[y][od] - b;
            if self.rcap[y][od] <= T::ZERO {
                self.set_orphan_front(x);
            }
        }
        self.tr[s_root] = self.tr[s_root] - b;
        if self.tr[s_root] <= T::ZERO {
            self.set_orphan_front(s_root);
        }
        for &x in &path[s_len..] {
            let x = x as usize;
            let pd = self.parent[x] as usize;
            let y = self.nbr(x, pd);
            self.rcap[y][opposite(pd)] = self.rcap[y][opposite(pd)] + b;
            self.rcap[x][pd] = self.rcap[x][pd] - b;
            if self.rcap[x][pd] <= T::ZERO {
                self.set_orphan_front(x);
            }
        }
        self.tr[t_root] = self.tr[t_root] + b;
        if self.tr[t_root] >= T::ZERO {
            self.set_orphan_front(t_root);
        }
        self.path = path;
        self.flow += b.to_f64();
    }

    /// Distance from `q` to its tree's terminal, or `u32::MAX` when `q`
    /// hangs below an orphan; marks the valid path with the current time.
    #[inline(never)] // measured: keeping the BK stages out of line is ~10% faster
    fn origin_distance(&mut self, q: usize) -> u32 {
        let time = self.time;
        let mut x = q;
        let mut dd: u32 = 0;
        loop {
            if self.ts[x] == time {
                dd += self.dist[x];
                break;
            }
            dd += 1;
            match self.parent[x] {
                TERMINAL => {
                    self.ts[x] = time;
                    self.dist[x] = 1;
                    break;
                }
                ORPHAN => return u32::MAX,
                pd => x = self.nbr(x, pd as usize),
            }
        }
        // Mark the path so later searches stop early.
        let mut x = q;
        let mut d2 = dd;
        while self.ts[x] != time {
            self.ts[x] = time;
            self.dist[x] = d2;
            d2 -= 1;
            x = self.nbr(x, self.parent[x] as usize);
        }
        dd
    }

    #[inline(never)] // measured: keeping the BK stages out of line is ~10% faster
    fn adopt(&mut self, p: usize) {
        let tree = self.tree[p] & TREE_MASK;
        let is_src = tree == SOURCE;
        let mut best = NO_PARENT;
        let mut best_dist = u32::MAX;
        for d in 0..8 {
            let q = self.nbr(p, d);
            if self.tree[q] & TREE_MASK != tree {
                continue;
            }
            // The edge that would become the tree edge: q→p (source) or p→q (sink).
            let c = if is_src {
                self.rcap[q][opposite(d)]
            } else {
                self.rcap[p][d]
            };
            if c <= T::ZERO {
                continue;
            }
            let dd = self.origin_distance(q);
            if dd < best_dist {
                best_dist = dd;
                best = d as u8;
            }
        }
        if best != NO_PARENT {
            self.parent[p] = best;
            self.ts[p] = self.time;
            self.dist[p] = best_dist + 1;
            return;
        }
        // No valid parent: p becomes free.
        for d in 0..8 {
            let q = self.nbr(p, d);
            if self.tree[q] & TREE_MASK != tree {
                continue;
            }
            let c = if is_src {
                self.rcap[q][opposite(d)]
            } else {
                self.rcap[p][d]
            };
            if c > T::ZERO {
                self.push_active(q);
            }
            if self.parent[q] as usize == opposite(d) {
                self.parent[q] = ORPHAN;
                self.orphans.push_back(q as u32);
            }
        }
        self.tree[p] &= QUEUED;
        self.parent[p] = NO_PARENT;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// Edmonds–Karp on a dense matrix built from the same capacities.
    #[allow(clippy::needless_range_loop)]
    fn reference_maxflow<T: Capacity>(g: &GridGraph<T>) -> f64 {
        let n = g.len() + 2;
        let (s, t) = (n - 2, n - 1);
        let mut c = vec![vec![0.0f64; n]; n];
        for i in 0..g.len() {
            let (a, b) = g.terminals(i);
            c[s][i] += a.to_f64();
            c[i][t] += b.to_f64();
            for d in 0..8 {
                if g.has_neighbor(i, d) {
                    let (dx, dy) = DIRS[d];
                    let j = ((i / g.width()) as i64 + dy as i64) as usize * g.width()
                        + ((i % g.width()) as i64 + dx as i64) as usize;
                    c[i][j] += g.edge_cap(i, d).to_f64();
                }
            }
        }
        let mut flow = 0.0;
        loop {
            let mut prev = vec![usize::MAX; n];
            prev[s] = s;
            let mut q = VecDeque::from([s]);
            while let Some(u) = q.pop_front() {
                for v in 0..n {
                    if prev[v] == usize::MAX && c[u][v] > 1e-12 {
                        prev[v] = u;
                        q.push_back(v);
                    }
                }
            }
            if prev[t] == usize::MAX {
                return flow;
            }
            let mut b = f64::INFINITY;
            let mut v = t;
            while v != s {
                b = b.min(c[prev[v]][v]);
                v = prev[v];
            }
            let mut v = t;
            while v != s {
                c[prev[v]][v] -= b;
                c[v][prev[v]] += b;
                v = prev[v];
            }
            flow += b;
        }
    }

    fn build<T: Capacity>(w: usize, h: usize, caps: &[T]) -> GridGraph<T> {
        let mut g = GridGraph::<T>::new(w, h);
        let mut k = 0;
        let mut next = || {
            k += 1;
            caps[k % caps.len()]
        };
        for i in 0..w * h {
            g.set_terminals(i, next(), next());
            for d in 0..8 {
                if g.has_neighbor(i, d) && d >= 4 {
                    g.set_edge(i, d, next(), next());
                }
            }
        }
        g
    }

    fn cap_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![Just(0.0), Just(0.0), (0u32..10).prop_map(|v| v as f64)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn maxflow_matches_edmonds_karp_integer(
            w in 1usize..=8, h in 1usize..=8,
            caps in prop::collection::vec(cap_strategy(), 1..400),
        ) {
            let mut g = build(w, h, &caps);
            let f = g.maxflow();
            let r = reference_maxflow(&g);
            prop_assert_eq!(f, r);
            prop_assert_eq!(g.cut_capacity(), f);
        }

        #[test]
        fn maxflow_matches_edmonds_karp_f32(
            w in 1usize..=8, h in 1usize..=8,
            caps in prop::collection::vec(prop_oneof![Just(0.0f32), 0.0f32..5.0], 1..400),
        ) {
            let mut g = build(w, h, &caps);
            let f = g.maxflow();
            let r = reference_maxflow(&g);
            prop_assert!((f - r).abs() <= 1e-3 * (1.0 + r), "bk {f} vs ek {r}");
            let c = g.cut_capacity();
            prop_assert!((c - f).abs() <= 1e-3 * (1.0 + r), "cut {c} vs flow {f}");
        }

        #[test]
        fn warm_start_after_terminal_changes_matches_edmonds_karp(
            w in 1usize..=8, h in 1usize..=8,
            caps in prop::collection::vec(cap_strategy(), 1..400),
            changes in prop::collection::vec((0usize..64, cap_strategy(), cap_strategy()), 0..40),
            rounds in 1usize..4,
        ) {
            let mut g = build(w, h, &caps);
            g.maxflow();
            for r in 0..rounds {
                for (k, &(i, s, t)) in changes.iter().enumerate() {
                    if k % rounds == r {
                        g.set_terminals(i % (w * h), s, t);
                    }
                }
                let f = g.maxflow();
                let e = reference_maxflow(&g);
                prop_assert!((f - e).abs() < 1e-9, "warm {f} vs ek {e}");
                // Same cut as a cold start.
                let side: Vec<bool> = (0..w * h).map(|i| g.is_source_side(i)).collect();
                let mut cold = g.clone();
                cold.reset_flow();
                prop_assert_eq!(cold.maxflow(), e);
                let cold_side: Vec<bool> = (0..w * h).map(|i| cold.is_source_side(i)).collect();
                prop_assert_eq!(side, cold_side);
            }
        }

        #[test]
        fn warm_start_after_every_terminal_changes_matches_edmonds_karp(
            w in 1usize..=8, h in 1usize..=8,
            caps in prop::collection::vec(cap_strategy(), 1..400),
            terms in prop::collection::vec((cap_strategy(), cap_strategy()), 1..200),
            rounds in 1usize..5,
        ) {
            // As in GrabCut: every t-link is redrawn between solves, so nodes
            // switch trees, roots lose their terminal and free nodes gain one.
            let mut g = build(w, h, &caps);
            g.maxflow();
            let mut k = 0;
            for _ in 0..rounds {
                for i in 0..w * h {
                    let (s, t) = terms[k % terms.len()];
                    k += 1;
                    g.set_terminals(i, s, t);
                }
                g.solve();
                let e = reference_maxflow(&g);
                prop_assert_eq!(g.flow(), e);
                let side: Vec<bool> = (0..w * h).map(|i| g.is_source_side(i)).collect();
                let mut cold = g.clone();
                cold.reset_flow();
                prop_assert_eq!(cold.maxflow(), e);
                let cold_side: Vec<bool> = (0..w * h).map(|i| cold.is_source_side(i)).collect();
                prop_assert_eq!(side, cold_side);
            }
        }

        #[test]
        fn maxflow_is_repeatable(
            w in 1usize..=6, h in 1usize..=6,
            caps in prop::collection::vec(cap_strategy(), 1..200),
        ) {
            let mut g = build(w, h, &caps);
            let f1 = g.maxflow();
            let side1: Vec<bool> = (0..w * h).map(|i| g.is_source_side(i)).collect();
            let f2 = g.maxflow();
            let side2: Vec<bool> = (0..w * h).map(|i| g.is_source_side(i)).collect();
            prop_assert_eq!(f1, f2);
            prop_assert_eq!(side1, side2);
        }
    }

    #[test]
    fn single_edge() {
        // s -5-> a -3-> b -4-> t
        let mut g = GridGraph::<f64>::new(2, 1);
        g.set_terminals(0, 5.0, 0.0);
        g.set_terminals(1, 0.0, 4.0);
        g.set_edge(0, RIGHT, 3.0, 0.0);
        assert_eq!(g.maxflow(), 3.0);
        assert!(g.is_source_side(0));
        assert!(!g.is_source_side(1));
        assert_eq!(g.cut_capacity(), 3.0);
        // Reverse edge capacity is not usable forwards.
        g.set_edge(0, RIGHT, 0.0, 3.0);
        assert_eq!(g.maxflow(), 0.0);
    }

    #[test]
    fn neighbour_pushes_before_the_search() {
        // s -5-> a -4-> b -3-> t: the cold start's neighbour pass sends 3
        // along s→a→b→t; nothing is left for the tree search.
        let mut g = GridGraph::<f32>::new(2, 1);
        g.set_terminals(0, 5.0, 0.0);
        g.set_terminals(1, 0.0, 3.0);
        g.set_nlink(0, RIGHT, 4.0);
        g.init();
        g.push_to_neighbours();
        assert_eq!(g.flow, 3.0);
        assert_eq!(g.tr[g.padded(0)], 2.0);
        assert_eq!(g.tr[g.padded(1)], 0.0);
        assert_eq!(g.rcap[g.padded(0)][RIGHT], 1.0);
        assert_eq!(g.rcap[g.padded(1)][LEFT], 7.0);
        assert_eq!(g.maxflow(), 3.0);
        // b's sink capacity is used up: neither node can reach the sink.
        assert!(g.is_source_side(0));
        assert!(g.is_source_side(1));
        assert_eq!(g.cut_capacity(), 3.0);
        // Limited by the n-link, then by the second node's other neighbour.
        let mut g = GridGraph::<f64>::new(3, 1);
        g.set_terminals(0, 0.0, 2.0);
        g.set_terminals(1, 9.0, 0.0);
        g.set_terminals(2, 0.0, 8.0);
        g.set_edge(1, LEFT, 1.0, 0.0);
        g.set_edge(1, RIGHT, 5.0, 0.0);
        g.init();
        g.push_to_neighbours();
        assert_eq!(g.flow, 6.0);
        assert_eq!(g.tr[g.padded(1)], 3.0);
        assert_eq!(g.maxflow(), 6.0);
        assert_eq!(g.cut_capacity(), 6.0);
    }

    #[test]
    fn bulk_terminals_and_sides_match_the_per_node_calls() {
        let (w, h) = (5, 4);
        let caps: Vec<f32> = (0..97).map(|k| ((k * 37) % 11) as f32 * 0.5).collect();
        let mut a = build(w, h, &caps);
        let mut b = a.clone();
        a.maxflow();
        b.maxflow();
        for round in 0..3 {
            let t = |i: usize| {
                let k = (i * 7 + round * 13) % caps.len();
                (caps[k], caps[(k + 5) % caps.len()])
            };
            for i in 0..w * h {
                let (s, k) = t(i);
                a.set_terminals(i, s, k);
            }
            b.set_all_terminals(t);
            assert!(a.tr == b.tr && a.term == b.term);
            a.solve();
            b.solve();
            let sides: Vec<bool> = (0..w * h).map(|i| a.is_source_side(i)).collect();
            assert_eq!(b.source_sides().collect::<Vec<_>>(), sides);
        }
    }

    #[test]
    fn warm_flow_is_the_cut_capacity() {
        let mut g = GridGraph::<f64>::new(2, 1);
        g.set_terminals(0, 5.0, 0.0);
        g.set_terminals(1, 0.0, 4.0);
        g.set_edge(0, RIGHT, 3.0, 0.0);
        g.solve();
        assert_eq!(g.flow(), 3.0);
        // Node 1 turns to the source: the warm solve moves it between trees.
        g.set_terminals(1, 2.0, 0.0);
        g.set_terminals(0, 0.0, 1.0);
        g.solve();
        assert_eq!(g.flow(), 0.0);
        assert!(!g.is_source_side(0));
        assert!(g.is_source_side(1));
        g.set_terminals(0, 0.0, 6.0);
        g.set_terminals(1, 2.5, 0.0);
        assert_eq!(g.maxflow(), 0.0);
        g.set_edge(1, LEFT, 2.0, 0.0);
        assert_eq!(g.maxflow(), 2.0);
    }

    #[test]
    fn terminal_preflow() {
        let mut g = GridGraph::<f32>::new(1, 1);
        g.set_terminals(0, 2.5, 4.0);
        assert_eq!(g.maxflow(), 2.5);
        assert!(!g.is_source_side(0));
    }

    #[test]
    fn bottleneck_row() {
        // Top row to the source, bottom row to the sink, a 1-wide middle row
        // whose vertical links carry 1 each: the flow is limited by the
        // top→middle links (capacity 1 per column, diagonals 0).
        let (w, h) = (5, 3);
        let mut g = GridGraph::<f64>::new(w, h);
        for x in 0..w {
            g.set_terminals(x, 100.0, 0.0);
            g.set_terminals(2 * w + x, 0.0, 100.0);
            g.set_nlink(x, DOWN, 1.0);
            g.set_nlink(w + x, DOWN, 10.0);
            if x + 1 < w {
                g.set_nlink(x, RIGHT, 10.0);
                g.set_nlink(w + x, RIGHT, 10.0);
                g.set_nlink(2 * w + x, RIGHT, 10.0);
            }
        }
        assert_eq!(g.maxflow(), 5.0);
        for x in 0..w {
            assert!(g.is_source_side(x));
            assert!(!g.is_source_side(w + x));
            assert!(!g.is_source_side(2 * w + x));
        }
        assert_eq!(g.cut_capacity(), 5.0);
    }

    #[test]
    fn all_zero() {
        let mut g = GridGraph::<f64>::new(4, 3);
        assert_eq!(g.maxflow(), 0.0);
        assert!((0..12).all(|i| g.is_source_side(i)));
        let mut e = GridGraph::<f64>::new(0, 0);
        assert_eq!(e.maxflow(), 0.0);
    }

    #[test]
    fn off_grid_edges_are_ignored() {
        let mut g = GridGraph::<f64>::new(2, 2);
        g.set_edge(0, UP_LEFT, 5.0, 5.0);
        g.set_edge(1, RIGHT, 5.0, 5.0);
        assert_eq!(g.edge_cap(0, UP_LEFT), 0.0);
        g.set_terminals(0, 1.0, 0.0);
        g.set_terminals(3, 0.0, 1.0);
        g.set_nlink(0, DOWN_RIGHT, 0.5);
        assert_eq!(g.maxflow(), 0.5);
    }

    #[test]
    fn larger_random_grid_matches_reference() {
        // A 12×10 grid with pseudo-random fractional capacities.
        let mut state = 12345u64;
        let mut rnd = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 1000) as f64 / 100.0
        };
        let (w, h) = (12, 10);
        let mut g = GridGraph::<f64>::new(w, h);
        for i in 0..w * h {
            let (a, b) = (rnd(), rnd());
            g.set_terminals(
                i,
                if a > 5.0 { a } else { 0.0 },
                if b > 5.0 { b } else { 0.0 },
            );
            for d in 4..8 {
                g.set_edge(i, d, rnd(), rnd());
            }
        }
        let f = g.maxflow();
        let r = reference_maxflow(&g);
        assert!((f - r).abs() < 1e-9, "{f} vs {r}");
        assert!((g.cut_capacity() - f).abs() < 1e-9);
    }
}
