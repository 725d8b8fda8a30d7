// rot90's top log-probabilities: for each row of a (rows, V) logits matrix, its k largest entries as
// log-probabilities (entry - the row's log-sum-exp) and their columns. What beam search needs of each step's
// logits, in two passes over each row (which stays in cache between them) instead of log_softmax's full (rows, V)
// output in float32 and then a top-k over that. The reference is torch.log_softmax(x, -1).topk(k)
// (rot90.models.search.top_log_probs, compared in tests/test_beam.py).
//
//   pass 1: the k largest, in blocks; a block whose maximum is not above the k-th best so far is skipped whole,
//           so after the first few blocks a row is read at the speed of a vectorised max. The first of the k is
//           the row's maximum.
//   pass 2: sum exp(x - max), with an exp the compiler vectorises.
//
// Ties keep the smaller column first; NaN entries are never among the k (the row's log-sum-exp is then NaN). float32 or bfloat16 in (read as float32), float32 and int64 out.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace {

inline float load(const float* x, int64_t j) { return x[j]; }
inline float load(const uint16_t* x, int64_t j) {  // bfloat16 is the top half of a float32
    uint32_t bits = uint32_t(x[j]) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// exp(t) for t <= 0 as 2^n * e^f, f in [-ln2/2, ln2/2], e^f by Taylor to degree 7 (relative error below 1e-8,
// under float32's rounding); below 2^-126 it flushes towards 0, which a sum beside exp(0) = 1 cannot see. No calls
// and no branches, so the loop that calls it is vectorised.
inline float exp_nonpositive(float t) {
    float z = t * 1.4426950408889634f;
    z = z < -126.0f ? -126.0f : z;
    float n = std::nearbyint(z);
    float f = (z - n) * 0.6931471805599453f;
    float p = 1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 + f * (1.0f / 120 + f * (1.0f / 720
              + f * (1.0f / 5040)))))));
    int32_t bits = (int32_t(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, 4);
    return p * scale;
}

constexpr int64_t BLOCK = 64;

template <typename T>
void row(const T* x, int64_t V, int k, float* values, int64_t* indices) {
    const float lowest = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < k; ++i) values[i] = lowest, indices[i] = 0;
    int filled = 0;  // the first k entries go in whatever they are (-inf too); then only those above the k-th
    for (int64_t start = 0; start < V; start += BLOCK) {
        int64_t end = start + BLOCK < V ? start + BLOCK : V;
        float m = lowest;
#pragma omp simd reduction(max : m)
        for (int64_t j = start; j < end; ++j) {
            float v = load(x, j);
            m = v > m ? v : m;  // (not fmax: its NaN rules cost a vectorised max four times over)
        }
        if (filled == k && !(m > values[k - 1])) continue;
        for (int64_t j = start; j < end; ++j) {
            float v = load(x, j);
            if ((filled == k && !(v > values[k - 1])) || v != v) continue;  // (NaN: never a candidate)
            int at = filled < k ? filled++ : k - 1;
            while (at > 0 && values[at - 1] < v) values[at] = values[at - 1], indices[at] = indices[at - 1], --at;
            values[at] = v, indices[at] = j;
        }
    }
    float top = values[0], sum = 0.0f;
    if (top == lowest) return;  // every entry -inf: no distribution; left as -inf
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < V; ++j) sum += exp_nonpositive(load(x, j) - top);
    float lse = top + std::log(sum);
    for (int i = 0; i < k; ++i) values[i] -= lse;
}

template <typename T>
void rows(const T* x, int64_t n, int64_t V, int k, float* values, int64_t* indices, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && n > 1)
    for (int64_t r = 0; r < n; ++r) row(x + r * V, V, k, values + r * k, indices + r * k);
}

}  // namespace

extern "C" {
void top_log_probs_f32(const float* x, int64_t n, int64_t V, int k, float* values, int64_t* indices, int threads) {
    rows(x, n, V, k, values, indices, threads);
}
void top_log_probs_bf16(const uint16_t* x, int64_t n, int64_t V, int k, float* values, int64_t* indices,
                        int threads) {
    rows(x, n, V, k, values, indices, threads);
}
}
