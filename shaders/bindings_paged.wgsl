// Tensor bindings for inputs larger than one storage binding. Each tensor is bound as its own
// number of consecutive pages of 2^page_shift 32-bit words (page k at binding start + k pages),
// and an element index picks its page with a shift and a mask; pages past a tensor's end are
// bound to a small placeholder buffer. The declarations and the page-picking functions
// (pred_word, pred_words4, target_word, store_grad, store_grad_quad) are generated before this
// text for the plan's page counts (`paged_source` in src/shaders.rs), so a device with few
// storage bindings per stage gets few pages.
// The VEC4 path reads and writes quads word by word within one page: a page holds a multiple
// of 4 words and VEC4 offsets are multiples of 4, so a quad never straddles two pages.

fn page_of(e: u32) -> u32 {
    return e >> params.page_shift;
}

fn in_page(e: u32) -> u32 {
    return e & ((1u << params.page_shift) - 1u);
}

// Prediction `e`; with PRED_F16 the pages hold f16 pairs, two to a word.
fn pred_at(e: u32) -> f32 {
    if (PRED_F16) {
        return f16_pair(bitcast<u32>(pred_word(e >> 1u)))[e & 1u];
    }
    return pred_word(e);
}

// Predictions e .. e + 3 (e a multiple of 4, VEC4 path).
fn pred_quad(e: u32) -> vec4<f32> {
    if (PRED_F16) {
        let w = e >> 1u;
        return vec4<f32>(
            f16_pair(bitcast<u32>(pred_word(w))),
            f16_pair(bitcast<u32>(pred_word(w + 1u))),
        );
    }
    return pred_words4(e);
}

// Target words j .. j + 3 (j a multiple of 4, VEC4 path).
fn target_quad(j: u32) -> vec4<u32> {
    return vec4<u32>(target_word(j), target_word(j + 1u), target_word(j + 2u), target_word(j + 3u));
}
