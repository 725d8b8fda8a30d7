// Linear recurrences h_t = f_t * h_{t-1} + b_t as one streaming pass over memory.
//
// Every (outer, lane) pair is an independent recurrence along t. Threads take blocks of
// BLOCK lanes; inside a block the loop over t is sequential and the loop over lanes is
// contiguous, so it vectorises, and each input element is read once: the memory traffic of
// an elementwise product. Where f and b come from is a "source":
//
//   Linear    f and b given                      (rot90.scan)
//   MinLSTM   f, b from pre-activations [a_f, a_i, u]:  f' = σ(a_f) / (σ(a_f) + σ(a_i)),
//             b = σ(a_i) / (σ(a_f) + σ(a_i)) * u              (Feng et al. 2024),
//             computed so that it stays finite where both σ underflow (normalised() below)
//   MinGRU    f, b from [a_z, u]:  f = 1 - σ(a_z), b = σ(a_z) u
//
// so the gates are computed inside the pass (and recomputed in backward) instead of as a
// dozen full-size tensors. Backward, with g = dL/dh and g_last = dL/dh_last:
//   a_t = g_t + f_{t+1} a_{t+1} (+ g_last at the last real step);   dh0 = f_0 a_0,
// and each source turns (a_t, h_{t-1}) into the gradients of its own inputs.
// Sequences may end early (lengths): past its end a lane's output is 0 and its state stays.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace {

constexpr int64_t BLOCK = 256;  // most lanes a task takes: a 1 KB float row per stream per step

// Whole rows stream memory best; split them only as far as needed to give every thread work.
inline int64_t block_size(int64_t outer, int64_t lanes, int threads) {
    int64_t block = std::min(BLOCK, lanes);
    while (block > 16 && outer * ((lanes + block - 1) / block) < 2 * threads) block = (block / 2 + 15) / 16 * 16;
    return block;
}

// exp for float as Cephes' expf computes it (Cody-Waite reduction, degree-6 polynomial, within
// 2 ulp): written out because std::exp is a library call the compiler cannot vectorise, and the
// gates are the inner loop. Double keeps std::exp: it serves the float64 reference tests.
inline float exp_(float x) {
    x = x < -87.3f ? -87.3f : (x > 88.0f ? 88.0f : x);  // 2^n stays a normal float
    float t = 1.44269504088896341f * x;  // n = round(x / ln 2); floor() would not vectorise
    float n = static_cast<float>(static_cast<int32_t>(t + (t < 0.0f ? -0.5f : 0.5f)));
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * __builtin_bit_cast(float, (static_cast<int32_t>(n) + 127) << 23);
}
inline double exp_(double x) { return std::exp(x); }

template <typename T> inline T sigmoid(T x) { return T(1) / (T(1) + exp_(-x)); }
// minLSTM's f' = σ(af) / (σ(af) + σ(ai)) = (1 + e^-ai) / (2 + e^-af + e^-ai), every term scaled by
// e^-m, m = max(-af, -ai, 0), so that no exponent is positive: f' = (e0 + ei) r, i' = (e0 + ef) r.
// Written as σf / (σf + σi) it is 0/0 where both sigmoids underflow (a NaN gradient in training).
template <typename T> inline void normalised(T af, T ai, T &e0, T &ef, T &ei, T &r) {
    T m = -af > -ai ? -af : -ai;
    m = m > T(0) ? m : T(0);
    e0 = exp_(-m), ef = exp_(-af - m), ei = exp_(-ai - m);
    r = T(1) / (T(2) * e0 + ef + ei);
}

// A source fills, for one step t and a block of n lanes starting at offset `at`, the
// coefficients f and b (forward), or, given the adjoints a and the previous states, writes
// the gradients of its own inputs and returns f in `f` (backward); zero() clears the
// gradients of a step past a sequence's end. Plain restrict-qualified
// loops over j under `omp simd`, so that the compiler vectorises them (GCC 12 gives up on
// the minLSTM backward loop by its own analysis).
template <typename T> struct Linear {  // f, b: (outer, steps, lanes)
    const T *f_in, *b_in;
    T *df, *db;
    int64_t steps, lanes;
    int64_t at(int64_t o, int64_t t, int64_t lo) const { return (o * steps + t) * lanes + lo; }
    void gates(int64_t at, int64_t n, T *__restrict f, T *__restrict b) const {
        const T *__restrict fi = f_in + at, *__restrict bi = b_in + at;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) { f[j] = fi[j]; b[j] = bi[j]; }
    }
    void grads(int64_t at, int64_t n, const T *__restrict a, const T *__restrict hprev, T *__restrict f) const {
        const T *__restrict fi = f_in + at;
        T *__restrict dfo = df + at, *__restrict dbo = db + at;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) { dfo[j] = a[j] * hprev[j]; dbo[j] = a[j]; f[j] = fi[j]; }
    }
    void zero(int64_t at, int64_t n) const { std::fill_n(df + at, n, T(0)); std::fill_n(db + at, n, T(0)); }
};

template <typename T> struct MinLSTM {  // px: (outer, steps, 3 * lanes) = [a_f | a_i | u]
    const T *px;
    T *dpx;
    int64_t steps, lanes;
    int64_t at(int64_t o, int64_t t, int64_t lo) const { return (o * steps + t) * 3 * lanes + lo; }
    void gates(int64_t at, int64_t n, T *__restrict f, T *__restrict b) const {
        const T *__restrict pf = px + at, *__restrict pi = pf + lanes, *__restrict pu = pf + 2 * lanes;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            T e0, ef, ei, r;
            normalised(pf[j], pi[j], e0, ef, ei, r);
            f[j] = (e0 + ei) * r;
            b[j] = (e0 + ef) * r * pu[j];
        }
    }
    void grads(int64_t at, int64_t n, const T *__restrict a, const T *__restrict hprev, T *__restrict f) const {
        const T *__restrict pf = px + at, *__restrict pi = pf + lanes, *__restrict pu = pf + 2 * lanes;
        T *__restrict qf = dpx + at, *__restrict qi = qf + lanes, *__restrict qu = qf + 2 * lanes;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            T e0, ef, ei, r;
            normalised(pf[j], pi[j], e0, ef, ei, r);
            T fn = (e0 + ei) * r, in = (e0 + ef) * r, g = a[j] * (hprev[j] - pu[j]);
            // h = f' h_prev + i' u, i' = 1 - f'; df'/da_f = f' i' (1 - σf) = f' ef r, each factor <= 1
            qf[j] = g * fn * ef * r;
            qi[j] = -g * in * ei * r;
            qu[j] = a[j] * in;
            f[j] = fn;
        }
    }
    void zero(int64_t at, int64_t n) const { for (int k = 0; k < 3; k++) std::fill_n(dpx + at + k * lanes, n, T(0)); }
};

template <typename T> struct MinGRU {  // px: (outer, steps, 2 * lanes) = [a_z | u]
    const T *px;
    T *dpx;
    int64_t steps, lanes;
    int64_t at(int64_t o, int64_t t, int64_t lo) const { return (o * steps + t) * 2 * lanes + lo; }
    void gates(int64_t at, int64_t n, T *__restrict f, T *__restrict b) const {
        const T *__restrict pz = px + at, *__restrict pu = pz + lanes;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            T z = sigmoid(pz[j]);
            f[j] = T(1) - z;
            b[j] = z * pu[j];
        }
    }
    void grads(int64_t at, int64_t n, const T *__restrict a, const T *__restrict hprev, T *__restrict f) const {
        const T *__restrict pz = px + at, *__restrict pu = pz + lanes;
        T *__restrict qz = dpx + at, *__restrict qu = qz + lanes;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            T z = sigmoid(pz[j]);
            qz[j] = a[j] * (pu[j] - hprev[j]) * z * (T(1) - z);
            qu[j] = a[j] * z;
            f[j] = T(1) - z;
        }
    }
    void zero(int64_t at, int64_t n) const { for (int k = 0; k < 2; k++) std::fill_n(dpx + at + k * lanes, n, T(0)); }
};

// h: (outer, steps, lanes); h0, h_last: (outer, lanes); lengths: (outer,) or null.
template <typename T, class Source>
void forward(const Source src, const T *h0, T *h, T *h_last, const int64_t *lengths, int64_t outer, int threads) {
    const int64_t steps = src.steps, lanes = src.lanes, bs = block_size(outer, lanes, threads);
    const int64_t blocks = (lanes + bs - 1) / bs;
#pragma omp parallel for num_threads(threads) schedule(static) firstprivate(src)
    for (int64_t task = 0; task < outer * blocks; task++) {
        const int64_t o = task / blocks, lo = (task % blocks) * bs, n = std::min(bs, lanes - lo);
        const int64_t len = lengths ? std::min(lengths[o], steps) : steps;
        T acc[BLOCK], f[BLOCK], b[BLOCK];
        for (int64_t j = 0; j < n; j++) acc[j] = h0[o * lanes + lo + j];
        for (int64_t t = 0; t < len; t++) {
            src.gates(src.at(o, t, lo), n, f, b);
            T *__restrict ht = h + (o * steps + t) * lanes + lo;
#pragma omp simd
            for (int64_t j = 0; j < n; j++) {
                acc[j] = f[j] * acc[j] + b[j];
                ht[j] = acc[j];
            }
        }
        for (int64_t t = len; t < steps; t++)
            for (int64_t j = 0; j < n; j++) h[(o * steps + t) * lanes + lo + j] = T(0);
        for (int64_t j = 0; j < n; j++) h_last[o * lanes + lo + j] = acc[j];
    }
}

template <typename T, class Source>
void backward(const Source src, const T *h0, const T *h, const T *g, const T *g_last, T *dh0,
              const int64_t *lengths, int64_t outer, int threads) {
    const int64_t steps = src.steps, lanes = src.lanes, bs = block_size(outer, lanes, threads);
    const int64_t blocks = (lanes + bs - 1) / bs;
#pragma omp parallel for num_threads(threads) schedule(static) firstprivate(src)
    for (int64_t task = 0; task < outer * blocks; task++) {
        const int64_t o = task / blocks, lo = (task % blocks) * bs, n = std::min(bs, lanes - lo);
        const int64_t len = lengths ? std::min(lengths[o], steps) : steps;
        T a[BLOCK], f[BLOCK];
        for (int64_t t = len; t < steps; t++) src.zero(src.at(o, t, lo), n);  // past the end: no gradient
        for (int64_t j = 0; j < n; j++) a[j] = g_last ? g_last[o * lanes + lo + j] : T(0);
        for (int64_t t = len - 1; t >= 0; t--) {
            const T *__restrict gt = g + (o * steps + t) * lanes + lo;
            const T *hp = t > 0 ? h + (o * steps + t - 1) * lanes + lo : h0 + o * lanes + lo;
#pragma omp simd
            for (int64_t j = 0; j < n; j++) a[j] += gt[j];  // a_t = g_t + f_{t+1} a_{t+1}
            src.grads(src.at(o, t, lo), n, a, hp, f);
#pragma omp simd
            for (int64_t j = 0; j < n; j++) a[j] *= f[j];   // f_t a_t, on its way to a_{t-1}
        }
        for (int64_t j = 0; j < n; j++) dh0[o * lanes + lo + j] = a[j];  // f_0 a_0
    }
}

}  // namespace

// The C entry points: px-driven sources (minLSTM, minGRU) share one signature per direction.
#define EXPORT_GATED(NAME, SOURCE, T, SUF)                                                                    \
    extern "C" void NAME##_fwd_##SUF(const T *px, const T *h0, T *h, T *h_last, const int64_t *len,           \
                                     int64_t outer, int64_t steps, int64_t lanes, int threads) {              \
        forward<T>(SOURCE<T>{px, nullptr, steps, lanes}, h0, h, h_last, len, outer, threads);                 \
    }                                                                                                         \
    extern "C" void NAME##_bwd_##SUF(const T *px, const T *h0, const T *h, const T *g, const T *g_last,       \
                                     T *dpx, T *dh0, const int64_t *len,                                      \
                                     int64_t outer, int64_t steps, int64_t lanes, int threads) {              \
        backward<T>(SOURCE<T>{px, dpx, steps, lanes}, h0, h, g, g_last, dh0, len, outer, threads);            \
    }

#define EXPORT(T, SUF)                                                                                        \
    extern "C" void scan_fwd_##SUF(const T *f, const T *b, const T *h0, T *h, T *h_last, const int64_t *len,   \
                                   int64_t outer, int64_t steps, int64_t lanes, int threads) {                \
        forward<T>(Linear<T>{f, b, nullptr, nullptr, steps, lanes}, h0, h, h_last, len, outer, threads);      \
    }                                                                                                         \
    extern "C" void scan_bwd_##SUF(const T *f, const T *h0, const T *h, const T *g, const T *g_last,          \
                                   T *df, T *db, T *dh0, const int64_t *len,                                  \
                                   int64_t outer, int64_t steps, int64_t lanes, int threads) {                \
        backward<T>(Linear<T>{f, nullptr, df, db, steps, lanes}, h0, h, g, g_last, dh0, len, outer, threads);   \
    }                                                                                                         \
    EXPORT_GATED(minlstm, MinLSTM, T, SUF)                                                                    \
    EXPORT_GATED(mingru, MinGRU, T, SUF)

EXPORT(float, f32)
EXPORT(double, f64)
