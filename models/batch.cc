#include "models/batch.h"

#include <algorithm>

#include "models/family.h"
#include "runtime/error.h"

namespace fwsvd {

int64_t Batch::max_len() const {
    int64_t m = 0;
    for (const auto& s : seqs) m = std::max(m, s.len);
    return m;
}

void Batch::clear() {
    ids.clear();
    type_ids.clear();
    pos_ids.clear();
    seqs.clear();
}

void Batch::add(const int32_t* seq_ids, const int32_t* seq_types, int64_t len, int64_t keys) {
    FWSVD_CHECK(len >= 1, "empty token sequence");
    if (keys < 0) keys = len;
    FWSVD_CHECK(keys >= 1 && keys <= len, "sequence keys ", keys, " out of range for length ", len);
    kernels::SeqSpan s{tokens(), len, keys, 0};
    seqs.push_back(s);
    for (int64_t i = 0; i < len; ++i) {
        ids.push_back(seq_ids[i]);
        type_ids.push_back(seq_types ? seq_types[i] : 0);
        pos_ids.push_back(int32_t(i));
    }
}

void Batch::validate(const ModelConfig& c, const char* what) const {
    const int64_t max_len = c.max_sequence_length();
    for (size_t b = 0; b < seqs.size(); ++b) {
        FWSVD_CHECK(seqs[b].len <= max_len, what, ": sequence ", b, " has ", seqs[b].len,
                    " tokens, more than the model's ", max_len, " positions");
    }
    // Families without token type embeddings ignore the type ids.
    const bool types = c.model_family().has(Role::type_emb);
    for (size_t i = 0; i < ids.size(); ++i) {
        FWSVD_CHECK(ids[i] >= 0 && ids[i] < c.vocab_size, what, ": token id ", ids[i],
                    " is outside the vocabulary (", c.vocab_size, ")");
        FWSVD_CHECK(!types || (type_ids[i] >= 0 && type_ids[i] < c.type_vocab_size), what,
                    ": token type id ", type_ids[i], " is outside type_vocab_size (",
                    c.type_vocab_size, ")");
    }
}

}  // namespace fwsvd
