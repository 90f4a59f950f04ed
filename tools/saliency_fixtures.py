#!/usr/bin/env python3
"""Reference fixtures for `tests/saliency_parity.rs` (GrabCut, HC, RC, FH).

Writes `tests/fixtures/saliency/`: a few small RGB images (PNG), and for each
image the outputs of the references below, plus `manifest.json` that
describes every file. The Rust test reads only the committed files; this
script is how they were made and how to remake them.

Environment (a virtualenv OUTSIDE the repository; these are the versions
the committed fixtures were generated with, under CPython 3.11.7):

    python3 -m venv ../peers-venv
    ../peers-venv/bin/pip install numpy==2.4.6 opencv-python-headless==5.0.0.93 \\
        scikit-image==0.26.0 pillow==13.0.0
    ../peers-venv/bin/python tools/saliency_fixtures.py          # (re)write the fixtures
    ../peers-venv/bin/python tools/saliency_fixtures.py --check  # regenerate in a temp dir, compare

What the references are -- read this before trusting a fixture:

* GrabCut: OpenCV's own `cv2.grabCut` (GC_INIT_WITH_RECT, 5 iterations,
  `cv2.setNumThreads(1)`, `cv2.setRNGSeed(0)` right before each call, the
  image fed in BGR order), called exactly as `shared/peers/peer_grabcut.py`
  called it for the measurements in BENCHMARKS.md. This is an established,
  independent implementation: our `grab_cut_opencv` must give the same
  4-valued mask (GC_BGD 0, GC_FGD 1, GC_PR_BGD 2, GC_PR_FGD 3).

* HC, RC and FH labels: there is no released implementation of the authors'
  code that runs here (their C++, MCG-NKU/CmCode, needs Windows/VS and
  OpenCV 2.4/3). The public Python port `congve1/SaliencyRC` was read and
  NOT used: it has no licence (so it cannot be vendored), and it departs
  from the authors' C++ in ways that change the maps -- region centre
  offsets are assigned instead of accumulated (`reg.ad2c[0] = abs(x - cx)`),
  the left/right border strips are counted into the top/bottom counter (so
  the border prior sees xb = 0), SmoothByRegion normalises a copy and paints
  the un-normalised means, GetRC defaults to the CVPR-era k = 200 /
  min_size = 50, the two-colour case returns zeros, and it converts to Lab
  with the running OpenCV's `cvtColor` (see below). Its FH port does follow
  Felzenszwalb's code.

  So the functions below are a port written for this script: the algorithm
  as `shared/reference/saliency.md` documents the authors' C++ (sections
  0-2: the TPAMI code, CmSaliencyRC, and the CVPR-2011 code), and, where
  that document is silent on arithmetic, the C++ itself as public copies
  show it (CmSaliencyRC.cpp, the CVPR-era Saliency.cpp, segment-image.cpp,
  and the OpenCV 2.4 headers and filters they use) -- read, not copied:
  f32 pixels, bins, Lab, colour distances and FH thresholds; a palette
  colour's mean as the TPAMI code computes it (sum times the f32 reciprocal
  of the count, OpenCV's Vec<float>::operator/=) or the CVPR code (through a
  double reciprocal); region colour distances as f32 products summed in
  f64; SmoothSaliency's divisor T * sum(w); cvRound's half-to-even. OpenCV
  primitives stand in for ours: cv2.GaussianBlur, cv2.normalize.
  It is a second implementation, not a blind one (its author had read
  src/saliency) and not the authors' binary: it catches porting and
  rounding errors in the Rust code, not misreadings shared with
  saliency.md.

* Lab: the formula of saliency.md section 0 in f32, with the gamma curve in
  f64 and the cube root correctly rounded to f32 (numpy's float32 np.cbrt is
  one unit in the last place off for about a third of inputs). OpenCV of the
  authors' era computed the same formula but interpolated the gamma curve
  from a 1024-entry spline table and took the cube root with float pow, so
  neither this port nor src/saliency/lab.rs reproduces their binaries bit
  for bit. `cv2.cvtColor` of the installed OpenCV 5 is not used either: its
  float Lab path interpolates other tables and differs by up to ~0.4 (the
  manifest records the difference per image, `lab_cvtcolor_max_abs_diff`).

* FH pre-blur: cv2.GaussianBlur with OpenCV's optimised paths off (see
  fh_segment). FH edge ties keep generation order (a stable sort); the C++
  `std::sort` leaves their order unspecified.
"""
import argparse
import filecmp
import gzip
import json
import os
import platform
import sys
import tempfile

import cv2
import numpy as np
import skimage
import skimage.data as skd
from PIL import Image

F32 = np.float32
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "tests", "fixtures", "saliency")

# ---------------------------------------------------------------- cases ----
# Photos: scikit-image's bundled images, resized with PIL (bilinear). The
# first three, with their GrabCut rectangles (x, y, w, h) scaled from
# peer_grabcut.py's and rounded, are the images of the GrabCut timings in
# BENCHMARKS.md. `logo` (flat colours, few palette entries: the colour
# contrasts are close together, so min-max normalisation magnifies rounding
# most) and `immunohistochemistry` at 160x120 (an image where a one-bit
# change in the FH pre-blur changes regions, see fh_segment) are the hard
# cases for the tolerances.
PEER_RECTS = {
    "astronaut": (20, 10, 350, 500),
    "coffee": (70, 15, 420, 375),
    "chelsea": (40, 10, 340, 285),
}
PHOTOS = [  # (name, size (W, H), rect at that size or None = scaled peer rect)
    ("astronaut", (96, 96), None),
    ("coffee", (120, 80), None),
    ("chelsea", (120, 80), None),
    ("logo", (120, 120), (8, 8, 104, 104)),
    ("immunohistochemistry", (160, 120), (0, 0, 90, 70)),
]
SYNTHETIC_SIZE = (120, 90)
SYNTHETIC_RECT = (28, 16, 66, 64)
GRABCUT_ITERS = 5
GRABCUT_SEED = 0


def synthetic_image(w, h):
    """Gradient background with low-frequency waves, two textured ellipses
    and uniform noise from a seeded generator (the PNG is the fixture)."""
    rng = np.random.default_rng(20261204)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    fx, fy = x / w, y / h
    wave = np.sin(fx * 9) * np.cos(fy * 7) * 18 + np.sin((fx + fy) * 31) * 6
    img = np.stack([60 + 90 * fy + wave, 120 + 60 * (1 - fy) + 0.5 * wave,
                    170 - 80 * fy - wave], axis=-1)
    for (cx, cy, rx, ry, colour) in [(0.5, 0.52, 0.22, 0.3, (205, 105, 45)),
                                     (0.82, 0.25, 0.09, 0.12, (235, 215, 70))]:
        r2 = ((fx - cx) / rx) ** 2 + ((fy - cy) / ry) ** 2
        inside = r2 <= 1
        shade = 1 - 0.35 * r2
        stripe = np.round(np.sin(x * 0.7 + y * 0.4) * 20)
        obj = np.stack([(colour[0] + stripe) * shade, (colour[1] + 0.5 * stripe) * shade,
                        colour[2] * shade], axis=-1)
        img[inside] = obj[inside]
    img += rng.integers(-8, 9, size=(h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def load_cases():
    cases = []
    for name, (w, h), rect in PHOTOS:
        full = getattr(skd, name)()[..., :3]  # logo's alpha is fully opaque
        assert full.dtype == np.uint8 and full.ndim == 3
        H, W = full.shape[:2]
        img = np.asarray(Image.fromarray(full).resize((w, h), Image.Resampling.BILINEAR))
        if rect is None:
            x, y, rw, rh = PEER_RECTS[name]
            sx, sy = w / W, h / H
            rect = (round(x * sx), round(y * sy), round(rw * sx), round(rh * sy))
        src = f"skimage.data.{name}() {W}x{H}, resized to {w}x{h} with PIL bilinear"
        cases.append((name, src, img, rect))
    w, h = SYNTHETIC_SIZE
    cases.append(("synthetic", f"synthetic_image({w}, {h}) in this script", synthetic_image(w, h),
                  SYNTHETIC_RECT))
    return cases


# ------------------------------------------------------------ GrabCut ----
def opencv_grabcut(rgb, rect):
    """OpenCV's GrabCut exactly as shared/peers/peer_grabcut.py runs it."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    mask = np.zeros(bgr.shape[:2], np.uint8)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(GRABCUT_SEED)  # k-means++ init draws from cv::theRNG()
    cv2.grabCut(bgr, mask, rect, bgd, fgd, GRABCUT_ITERS, cv2.GC_INIT_WITH_RECT)
    return mask


# ------------------------------------------- Lab (saliency.md section 0) ----
_M = np.array([[0.412453, 0.357580, 0.180423],
               [0.212671, 0.715160, 0.072169],
               [0.019334, 0.119193, 0.950227]])
_WHITE = np.array([0.950456, 1.0, 1.088754])
_C = (_M / _WHITE[:, None]).astype(F32)  # X, Z rows pre-divided by the white point
_T = F32(0.008856)


def to_unit(rgb_u8):
    """8-bit -> f32 in [0, 1] as OpenCV's convertTo(CV_32F, 1/255)."""
    return rgb_u8.astype(F32) * F32(1.0 / 255.0)


def cbrt_f32(t):
    """t^(1/3) rounded to the nearest f32 (computed in f64). numpy's float32
    np.cbrt is off by one unit in the last place for about a third of inputs,
    glibc's cbrtf for about a tenth; neither is what the formula states."""
    return np.cbrt(t.astype(np.float64)).astype(F32)


def lab_from_rgb(rgb):
    """Lab by the formula of saliency.md section 0, f32 sRGB in [0, 1] with
    the last axis R, G, B (L in [0, 100], a and b about +-127)."""
    v = np.clip(rgb.astype(np.float64), 0.0, 1.0)
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(F32)
    r, g, b = lin[..., 0], lin[..., 1], lin[..., 2]
    xyz = [r * _C[i, 0] + g * _C[i, 1] + b * _C[i, 2] for i in range(3)]
    f = [np.where(t > _T, cbrt_f32(t), F32(7.787) * t + F32(16) / F32(116)) for t in xyz]
    y = xyz[1]
    L = np.where(y > _T, F32(116) * f[1] - F32(16), F32(903.3) * y)
    return np.stack([L, F32(500) * (f[0] - f[1]), F32(200) * (f[1] - f[2])], axis=-1).astype(F32)


def lab_distance_matrix(lab):
    """Euclidean (not squared) Lab distances between all colours, in f32."""
    d = lab[:, None, :] - lab[None, :, :]
    return np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2])


def minmax_to_f32(v):
    """cv::normalize(v, dst, 0, 1, NORM_MINMAX, CV_32F) (zeros if flat)."""
    return cv2.normalize(np.asarray(v).reshape(1, -1), None, 0, 1, cv2.NORM_MINMAX,
                         dtype=cv2.CV_32F).ravel()


# ------------------------------------ quantisation (section 1, steps 1-4) ----
def quantize(rgb_u8, small_rule="tpami", ratio=0.95):
    """-> (per-pixel colour index (H, W), mean f32 colours [R, G, B] (n, 3), counts (n,))."""
    h, w, _ = rgb_u8.shape
    px = to_unit(rgb_u8).reshape(-1, 3)
    q = (px * (F32(12) - F32(0.0001))).astype(np.int64)  # truncation
    bins = 144 * q[:, 2] + 12 * q[:, 1] + q[:, 0]  # B, G, R order
    hist = np.bincount(bins, minlength=1728)
    order = sorted(((int(hist[b]), int(b)) for b in np.nonzero(hist)[0]), reverse=True)
    total = len(order)
    max_drop = round(h * w * (1 - ratio))  # cvRound: half to even
    n = total
    dropped = order[n - 1][0]
    while dropped < max_drop and n > 1:
        dropped += order[n - 2][0]
        n -= 1
    n = min(n, 256)
    if small_rule == "tpami" and n <= 10:
        n = min(10, total)
    elif small_rule == "cvpr2011" and n < 10:
        n = min(total, 100)
    remap = {}
    levels = [(b // 144, b % 144 // 12, b % 12) for _, b in order]
    for i in range(n):
        remap[order[i][1]] = i
    for i in range(n, total):
        best, best_d = 0, None
        for j in range(n):
            d = sum((levels[i][c] - levels[j][c]) ** 2 for c in range(3))
            if best_d is None or d < best_d:  # ties: the more frequent kept bin
                best, best_d = j, d
        remap[order[i][1]] = best
    lut = np.zeros(1728, np.int64)
    for b, i in remap.items():
        lut[b] = i
    idx = lut[bins]
    sums = np.zeros((n, 3), F32)
    np.add.at(sums, idx, px)  # f32 sums in raster order, as the C++ Vec3f +=
    counts = np.bincount(idx, minlength=n)
    if small_rule == "tpami":
        # CmSaliencyRC.cpp: `color[i] /= (float)colorNum[i]`, and OpenCV's
        # Vec<float>::operator/=(float) multiplies by the f32 reciprocal.
        colors = sums * (F32(1) / counts.astype(F32))[:, None]
    else:
        # CVPR-era Saliency.cpp: `color[i] = color[i] / colorNum[i]`, i.e.
        # Vec / int, which multiplies by the double reciprocal.
        colors = (sums.astype(np.float64) * (1.0 / counts)[:, None]).astype(F32)
    return idx.reshape(h, w), colors, counts


# ------------------------------------------ colour smoothing (1.6, 2.7) ----
def smooth_colours(sal, dist, delta, counts=None):
    """CmCode's SmoothSaliency: each colour takes
    sum_k sal_k (T - d_k) w_k / (T sum_k w_k) over its m = max(round(n delta), 2)
    nearest colours in Lab (self included, ties by index), with w = counts
    (RC's SmoothByHist) or 1 (HC); then min-max to f32. (saliency.md writes
    HC's weights with (m - 1) T; the constant factor is removed by the
    min-max step.)"""
    n = len(sal)
    if n < 2:
        return np.asarray(sal, F32)
    m = min(max(int(np.rint(F32(n) * F32(delta))), 2), n)
    sal64 = np.asarray(sal, F32).astype(np.float64)
    wts = np.ones(n) if counts is None else np.asarray(counts, np.float64)
    out = np.zeros(n)
    ids = np.arange(n)
    for i in range(n):
        near = np.lexsort((ids, dist[i]))[:m]  # (distance asc, index asc)
        d = dist[i, near].astype(np.float64)
        w = wts[near]
        t = d.sum()
        if t <= 0:  # all m colours coincide (the C++ would divide by zero)
            out[i] = (sal64[near] * w).sum() / w.sum()
        else:
            out[i] = (sal64[near] * (t - d) * w).sum() / (t * w.sum())
    return minmax_to_f32(out)


def blur3(plane):
    """3x3 Gaussian, sigma 0 ([1/4, 1/2, 1/4]), OpenCV's default reflect-101."""
    return cv2.GaussianBlur(np.ascontiguousarray(plane, F32), (3, 3), 0)


# ---------------------------------------------------------- HC (sec. 1) ----
def hc(rgb_u8):
    idx, colors, counts = quantize(rgb_u8)
    dist = lab_distance_matrix(lab_from_rgb(colors))
    freq = cv2.normalize(counts.astype(np.int32).reshape(1, -1), None, 1, 0, cv2.NORM_L1,
                         dtype=cv2.CV_32F).ravel()
    contrast = np.zeros(len(counts), F32)
    for j in range(len(counts)):  # f32 accumulation over j (D[i, i] = 0 adds nothing)
        contrast += freq[j] * dist[:, j]
    sal = smooth_colours(contrast, dist, 0.25)
    m = blur3(sal[idx])
    return cv2.normalize(m, None, 0, 1, cv2.NORM_MINMAX)


# ---------------------------------------------------------- FH (sec. 2) ----
def fh_segment(lab, k=50.0, min_size=200, sigma=0.5):
    """Felzenszwalb-Huttenlocher on an f32 Lab image; labels in raster order
    of first appearance, and their number."""
    h, w, _ = lab.shape
    # 5 taps for sigma 0.5 (OpenCV derives the size from sigma), replicated
    # borders. Run with cv2.setUseOptimized(False) (see main): OpenCV >= 4's
    # SIMD filters fuse multiply-adds, which moves the last bit of about a
    # quarter of the blurred values and, through ties at FH's `w <= threshold`
    # test, can change whole regions; its scalar path rounds every product
    # and sum, in the same order as the SSE2 code of OpenCV 2.4/3.0, which
    # the authors built against.
    assert not cv2.useOptimized()
    sm = cv2.GaussianBlur(lab, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    a_list, b_list, w_list = [], [], []
    for dy, dx, ys, xs in ((0, 1, slice(0, h), slice(0, w - 1)),      # right
                           (1, 0, slice(0, h - 1), slice(0, w)),      # down
                           (1, 1, slice(0, h - 1), slice(0, w - 1)),  # down-right
                           (-1, 1, slice(1, h), slice(0, w - 1))):    # up-right
        yy, xx = np.mgrid[ys, xs]
        d = sm[yy, xx] - sm[yy + dy, xx + dx]
        a_list.append((yy * w + xx).ravel())
        b_list.append(((yy + dy) * w + xx + dx).ravel())
        w_list.append(np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1]
                              + d[..., 2] * d[..., 2]).ravel())
    a, b, wt = (np.concatenate(v) for v in (a_list, b_list, w_list))
    # Generation order of the reference: raster over the first pixel, then
    # right, down, down-right, up-right.
    direction = np.concatenate([np.full(len(v), i) for i, v in enumerate(a_list)])
    gen = np.lexsort((direction, a))
    a, b, wt = a[gen], b[gen], wt[gen]
    order = np.argsort(wt, kind="stable")
    a, b, wt = a[order].tolist(), b[order].tolist(), wt[order].astype(F32)

    n = h * w
    parent, rank, size = list(range(n)), [0] * n, [1] * n
    kf = F32(k)
    thr = [float(kf)] * n  # exact f32 values held as Python floats

    def find(x):
        y = x
        while parent[y] != y:
            y = parent[y]
        while parent[x] != y:
            parent[x], x = y, parent[x]
        return y

    def join(x, y):
        if rank[x] > rank[y]:
            parent[y] = x
            size[x] += size[y]
            return x
        parent[x] = y
        size[y] += size[x]
        if rank[x] == rank[y]:
            rank[y] += 1
        return y

    wl = wt.tolist()
    for i in range(len(wl)):
        ra, rb = find(a[i]), find(b[i])
        if ra != rb and wl[i] <= thr[ra] and wl[i] <= thr[rb]:
            r = join(ra, rb)
            thr[r] = float(wt[i] + kf / F32(size[r]))  # f32, as FH's float thresholds
    for i in range(len(wl)):
        ra, rb = find(a[i]), find(b[i])
        if ra != rb and (size[ra] < min_size or size[rb] < min_size):
            join(ra, rb)
    labels, seen = np.zeros(n, np.int64), {}
    for p in range(n):
        labels[p] = seen.setdefault(find(p), len(seen))
    return labels.reshape(h, w), len(seen)


# ---------------------------------------------------------- RC (sec. 2) ----
def border_mask(labels, nreg, ratio=0.02, thr=0.4):
    """GetBorderReg: background regions plus the border strips (True)."""
    h, w = labels.shape
    lab = labels.ravel()
    yy, xx = np.mgrid[0:h, 0:w]
    x, y = xx.ravel().astype(np.float64), yy.ravel().astype(np.float64)
    cnt = np.bincount(lab, minlength=nreg).astype(np.float64)
    mx = np.bincount(lab, x, nreg) / cnt
    my = np.bincount(lab, y, nreg) / cnt
    vx = np.bincount(lab, np.abs(x - mx[lab]), nreg) / cnt + 1e-200
    vy = np.bincount(lab, np.abs(y - my[lab]), nreg) / cnt + 1e-200
    wgap, hgap = round(w * ratio), round(h * ratio)
    strip_tb = np.zeros((h, w), bool)
    strip_tb[:hgap] = True
    strip_tb[h - hgap:] = True
    strip_lr = np.zeros((h, w), bool)
    strip_lr[:, :wgap] = True
    strip_lr[:, w - wgap:] = True
    yb = np.bincount(labels[strip_tb], minlength=nreg)  # top + bottom
    xb = np.bincount(labels[strip_lr], minlength=nreg)  # left + right (corners in both)
    lk = xb * (1.0 / (4 * hgap)) / vy + yb * (1.0 / (4 * wgap)) / vx
    background = lk / thr > 1
    return background[labels] | strip_tb | strip_lr


def rc(rgb_u8, variant="tpami"):
    tpami = variant == "tpami"
    h, w, _ = rgb_u8.shape
    idx, colors, counts = quantize(rgb_u8, small_rule=variant)
    n = len(counts)
    if tpami and n == 2:
        return (idx == 1).astype(F32)
    if n <= 2:
        return np.zeros((h, w), F32)
    labels, nreg = fh_segment(lab_from_rgb(to_unit(rgb_u8)), 50.0, 200 if tpami else 50, 0.5)
    dist = lab_distance_matrix(lab_from_rgb(colors))
    lab, col = labels.ravel(), idx.ravel()
    yy, xx = np.mgrid[0:h, 0:w]
    x, y = xx.ravel().astype(np.float64), yy.ravel().astype(np.float64)
    pix = np.bincount(lab, minlength=nreg)
    cent = np.stack([np.bincount(lab, x, nreg) / (pix * float(w)),
                     np.bincount(lab, y, nreg) / (pix * float(h))], axis=1)
    ad = np.stack([np.bincount(lab, np.abs(x - w / 2.0), nreg) / (pix * float(w)),
                   np.bincount(lab, np.abs(y - h / 2.0), nreg) / (pix * float(h))], axis=1)
    hist = np.zeros((nreg, n), np.int64)
    np.add.at(hist, (lab, col), 1)
    freq = hist.astype(F32) / pix.astype(F32)[:, None]  # f32 fractions
    # D_r(r, s) = sum_ij D(c_i, c_j) f(r,i) f(s,j): each product in f32, as the
    # C++ (float cache * float * float), summed in f64.
    dr = np.zeros((nreg, nreg))
    for r in range(nreg):
        ci = np.nonzero(hist[r])[0]
        for s in range(r + 1, nreg):
            cj = np.nonzero(hist[s])[0]
            prod = (dist[np.ix_(ci, cj)] * freq[r, ci][:, None]) * freq[s, cj][None, :]
            dr[r, s] = dr[s, r] = prod.astype(np.float64).sum()
    d2 = ((cent[:, None, :] - cent[None, :, :]) ** 2).sum(-1)
    contrib = pix[None, :] * (dr * np.exp(-d2 / 0.4))
    np.fill_diagonal(contrib, 0.0)
    reg_sal = contrib.sum(1)
    if tpami:
        reg_sal = reg_sal * np.exp(-9.0 * (ad[:, 0] ** 2 + ad[:, 1] ** 2))
    sal = minmax_to_f32(reg_sal)[labels]
    if tpami:
        mask = border_mask(labels, nreg)
        sal[mask] = 0
        # SmoothByHist (delta 0.1) on the same quantisation.
        mean = np.bincount(col, sal.ravel().astype(np.float64), n) / counts
        sal = smooth_colours(minmax_to_f32(mean), dist, 0.1, counts)[idx]
        # SmoothByRegion: region means, min-max in f64, painted as f32.
        rmean = np.bincount(lab, sal.ravel().astype(np.float64), nreg) / pix
        rnorm = cv2.normalize(rmean.reshape(1, -1), None, 0, 1, cv2.NORM_MINMAX).ravel()
        sal = rnorm.astype(F32)[labels]
        sal[mask] = 0
    return blur3(sal)


# ------------------------------------------------------------- output ----
def write_f32_gz(path, a):
    """Raw little-endian f32, gzip-compressed with a fixed header (no name,
    mtime 0) so that regenerating gives identical bytes."""
    raw = np.ascontiguousarray(a, "<f4").tobytes()
    with open(path, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0,
                                               compresslevel=9) as gz:
        gz.write(raw)


def generate(out):
    os.makedirs(out, exist_ok=True)
    cv2.setNumThreads(1)
    manifest = {
        "generator": "tools/saliency_fixtures.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "opencv": cv2.__version__, "scikit_image": skimage.__version__,
                     "pillow": Image.__version__},
        "format": {
            "image": "8-bit RGB PNG, the input of every reference",
            "grabcut.mask": "8-bit grey PNG, cv2.grabCut's mask: 0 GC_BGD, 1 GC_FGD, 2 GC_PR_BGD, 3 GC_PR_FGD",
            "hc, rc, rc_cvpr2011": "gzip of raw little-endian f32, width*height values, row-major",
            "fh*.labels": "16-bit grey PNG, region label per pixel (0..regions-1, raster order of first appearance)",
        },
        "cases": [],
    }
    for name, source, img, rect in load_cases():
        h, w, _ = img.shape
        Image.fromarray(img).save(os.path.join(out, f"{name}.png"))
        mask = opencv_grabcut(img, rect)
        Image.fromarray(mask).save(os.path.join(out, f"{name}_grabcut.png"))
        case = {"name": name, "source": source, "width": w, "height": h, "image": f"{name}.png",
                "grabcut": {"rect_xywh": list(rect), "iterations": GRABCUT_ITERS,
                            "opencv_rng_seed": GRABCUT_SEED, "mode": "GC_INIT_WITH_RECT",
                            "input_channel_order_fed": "BGR", "mask": f"{name}_grabcut.png",
                            "mask_value_counts": [int((mask == v).sum()) for v in range(4)]}}
        cv2.setUseOptimized(False)  # the saliency port: OpenCV's scalar paths, see fh_segment
        lab = lab_from_rgb(to_unit(img))
        cv_lab = cv2.cvtColor(np.ascontiguousarray(to_unit(img)[:, :, ::-1]), cv2.COLOR_BGR2Lab)
        case["lab_cvtcolor_max_abs_diff"] = float(np.abs(cv_lab - lab).max())
        case["palette_colors"] = int(len(quantize(img)[2]))
        for key, min_size in (("fh", 200), ("fh_cvpr2011", 50)):
            labels, nreg = fh_segment(lab, 50.0, min_size, 0.5)
            assert nreg < 65536
            Image.fromarray(labels.astype(np.uint16)).save(os.path.join(out, f"{name}_{key}.png"))
            case[key] = {"labels": f"{name}_{key}.png", "regions": nreg, "k": 50.0,
                         "min_size": min_size, "sigma": 0.5}
        for key, fn in (("hc", lambda: hc(img)), ("rc", lambda: rc(img, "tpami")),
                        ("rc_cvpr2011", lambda: rc(img, "cvpr2011"))):
            m = fn()
            assert m.shape == (h, w) and m.dtype == F32
            write_f32_gz(os.path.join(out, f"{name}_{key}.f32.gz"), m)
            case[key] = f"{name}_{key}.f32.gz"
        cv2.setUseOptimized(True)
        manifest["cases"].append(case)
        print(f"{name} {w}x{h}: grabcut counts {case['grabcut']['mask_value_counts']}, "
              f"{case['palette_colors']} colours, FH {case['fh']['regions']} / "
              f"{case['fh_cvpr2011']['regions']} regions, "
              f"cvtColor Lab differs by {case['lab_cvtcolor_max_abs_diff']:.3g}", flush=True)
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temporary folder and compare with --out")
    args = ap.parse_args()
    if not args.check:
        generate(args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp)
        names = sorted(os.listdir(tmp))
        _, mismatch, errors = filecmp.cmpfiles(args.out, tmp, names, shallow=False)
        extra = sorted(set(os.listdir(args.out)) - set(names))
        for f in mismatch + errors:
            print(f"differs or missing: {f}")
        for f in extra:
            print(f"not generated: {f}")
        if mismatch or errors or extra:
            sys.exit(1)
        print(f"{len(names)} files identical")


if __name__ == "__main__":
    main()
