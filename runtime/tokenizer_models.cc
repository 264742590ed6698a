// The models of the tokenizer.json pipeline: BPE (tokenizers/src/models/bpe), Unigram
// (models/unigram, the Viterbi of encode_optimized) and WordPiece (models/wordpiece).
#include <cstdio>
#include <limits>
#include <queue>

#include "runtime/error.h"
#include "runtime/tokenizer_pipeline.h"
#include "runtime/tokenizer_wordpiece.h"

namespace fwsvd::pipeline {

namespace {

size_t utf8_len(unsigned char b) {
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

std::string byte_token(unsigned char b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", unsigned(b));
    return buf;
}

class VocabModel : public Model {
  public:
    explicit VocabModel(Vocab v) : vocab_(std::move(v)) {}
    int32_t token_to_id(std::string_view token) const override {
        auto it = vocab_.ids.find(std::string(token));
        return it == vocab_.ids.end() ? -1 : it->second;
    }
    const std::string* id_to_token(int32_t id) const override {
        if (id < 0 || size_t(id) >= vocab_.tokens.size() || !vocab_.present[size_t(id)]) {
            return nullptr;
        }
        return &vocab_.tokens[size_t(id)];
    }
    int64_t vocab_size() const override { return int64_t(vocab_.tokens.size()); }

  protected:
    int32_t find(const std::string& s) const {
        auto it = vocab_.ids.find(s);
        return it == vocab_.ids.end() ? -1 : it->second;
    }
    Vocab vocab_;
};

// ---- BPE --------------------------------------------------------------------------------------

class Bpe final : public VocabModel {
  public:
    Bpe(Vocab v, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions o,
        const std::string& where)
        : VocabModel(std::move(v)), o_(std::move(o)) {
        if (!o_.unk_token.empty()) unk_id_ = find(o_.unk_token);
        const size_t prefix_len = o_.continuing_subword_prefix.size();
        for (size_t rank = 0; rank < merges.size(); ++rank) {
            const auto& [a, b] = merges[rank];
            const int32_t ia = find(a), ib = find(b);
            FWSVD_CHECK(ia >= 0 && ib >= 0, where, ": merge \"", a, " ", b,
                        "\" uses a token that is not in the vocabulary");
            FWSVD_CHECK(b.size() >= prefix_len, where, ": merge \"", a, " ", b,
                        "\" is shorter than the continuing_subword_prefix");
            const int32_t merged = find(a + b.substr(prefix_len));
            FWSVD_CHECK(merged >= 0, where, ": the merge of \"", a, " ", b,
                        "\" is not in the vocabulary");
            merges_[key(ia, ib)] = {uint32_t(rank), merged};  // a repeated pair keeps the last
        }
    }

    void tokenize(std::string_view w, std::vector<int32_t>& ids) const override {
        if (w.empty()) return;
        if (o_.ignore_merges) {
            const int32_t id = find(std::string(w));
            if (id >= 0) {
                ids.push_back(id);
                return;
            }
        }
        // Symbols: one per character (or byte fallback / unknown), then merged.
        std::vector<Symbol> sym;
        sym.reserve(w.size());
        int32_t unk = -1;
        auto add = [&](int32_t id) {
            sym.push_back(Symbol{id, int32_t(sym.size()) - 1, -1, true});
            if (sym.size() > 1) sym[sym.size() - 2].next = int32_t(sym.size()) - 1;
        };
        std::string s;
        for (size_t i = 0; i < w.size();) {
            const size_t n = std::min(utf8_len(static_cast<unsigned char>(w[i])), w.size() - i);
            const bool first = i == 0, last = i + n == w.size();
            s.assign(w.substr(i, n));
            i += n;
            if (!first) s.insert(0, o_.continuing_subword_prefix);
            if (last) s += o_.end_of_word_suffix;
            const int32_t id = find(s);
            if (id >= 0) {
                if (unk >= 0) add(unk), unk = -1;
                add(id);
                continue;
            }
            if (o_.byte_fallback) {
                std::vector<int32_t> bytes;
                for (unsigned char b : s) {
                    const int32_t bid = find(byte_token(b));
                    if (bid < 0) break;
                    bytes.push_back(bid);
                }
                if (bytes.size() == s.size()) {
                    for (int32_t bid : bytes) add(bid);
                    continue;
                }
            }
            if (o_.unk_token.empty()) continue;  // no unknown token: the character is dropped
            FWSVD_CHECK(unk_id_ >= 0, "tokenizer: BPE unknown token \"", o_.unk_token,
                        "\" is not in the vocabulary");
            if (unk >= 0 && !o_.fuse_unk) add(unk);
            unk = unk_id_;
        }
        if (unk >= 0) add(unk);
        merge_all(sym);
        for (const Symbol& x : sym) {
            if (x.alive) ids.push_back(x.id);
        }
    }

  private:
    struct Symbol {
        int32_t id;
        int32_t prev, next;
        bool alive;
    };
    struct Candidate {
        uint32_t rank;
        int32_t pos;
        int32_t new_id;
        bool operator<(const Candidate& o) const {  // priority_queue: the lowest rank, then pos
            return rank != o.rank ? rank > o.rank : pos > o.pos;
        }
    };
    static uint64_t key(int32_t a, int32_t b) {
        return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
    }

    const std::pair<uint32_t, int32_t>* merge_of(int32_t a, int32_t b) const {
        auto it = merges_.find(key(a, b));
        return it == merges_.end() ? nullptr : &it->second;
    }

    void merge_all(std::vector<Symbol>& sym) const {
        std::priority_queue<Candidate> queue;
        for (size_t i = 0; i + 1 < sym.size(); ++i) {
            if (auto* m = merge_of(sym[i].id, sym[i + 1].id)) {
                queue.push(Candidate{m->first, int32_t(i), m->second});
            }
        }
        while (!queue.empty()) {
            const Candidate top = queue.top();
            queue.pop();
            Symbol& cur = sym[size_t(top.pos)];
            if (!cur.alive || cur.next < 0) continue;
            Symbol& right = sym[size_t(cur.next)];
            const auto* m = merge_of(cur.id, right.id);
            if (!m || m->second != top.new_id) continue;
            cur.id = top.new_id;
            right.alive = false;
            cur.next = right.next;
            if (right.next >= 0) sym[size_t(right.next)].prev = top.pos;
            if (cur.prev >= 0) {
                if (auto* p = merge_of(sym[size_t(cur.prev)].id, cur.id)) {
                    queue.push(Candidate{p->first, cur.prev, p->second});
                }
            }
            if (cur.next >= 0) {
                if (auto* n = merge_of(cur.id, sym[size_t(cur.next)].id)) {
                    queue.push(Candidate{n->first, top.pos, n->second});
                }
            }
        }
    }

    BpeOptions o_;
    int32_t unk_id_ = -1;
    std::unordered_map<uint64_t, std::pair<uint32_t, int32_t>> merges_;  // pair -> rank, new id
};

// ---- Unigram ----------------------------------------------------------------------------------

class Unigram final : public Model {
  public:
    Unigram(std::vector<std::pair<std::string, double>> pieces, int64_t unk_id, bool byte_fallback,
            const std::string& where)
        : pieces_(std::move(pieces)), byte_fallback_(byte_fallback), where_(where) {
        FWSVD_CHECK(unk_id < 0 || (!pieces_.empty() && unk_id < int64_t(pieces_.size())), where,
                    ": Unigram unk_id ", unk_id, " is outside the vocabulary (", pieces_.size(),
                    " pieces)");
        unk_id_ = int32_t(unk_id);
        for (size_t i = 0; i < pieces_.size(); ++i) {
            ids_[pieces_[i].first] = int32_t(i);  // a repeated piece maps to its last id
            trie_.insert(pieces_[i].first, int32_t(i));
            min_score_ = std::min(min_score_, pieces_[i].second);
        }
        trie_.finish();
    }

    void tokenize(std::string_view s, std::vector<int32_t>& out) const override {
        if (s.empty()) return;
        constexpr double kUnkPenalty = 10.0;
        const double unk_score = min_score_ - kUnkPenalty;
        struct Node {
            int32_t id = 0;
            double score = 0;
            int64_t starts_at = -1;
        };
        std::vector<Node> best(s.size() + 1);
        for (size_t at = 0; at < s.size();) {
            const double here = best[at].score;
            const size_t mblen =
                std::min(utf8_len(static_cast<unsigned char>(s[at])), s.size() - at);
            bool single = false;
            uint32_t node = 0;
            for (size_t i = at; i < s.size(); ++i) {
                node = trie_.child(node, static_cast<unsigned char>(s[i]));
                if (node == detail::ByteTrie::kNone) break;
                const int32_t id = trie_.id(node);
                if (id < 0) continue;
                const size_t end = i + 1;
                Node& target = best[end];
                const double cand = pieces_[size_t(id)].second + here;
                if (target.starts_at < 0 || cand > target.score) {
                    target = Node{id, cand, int64_t(at)};
                }
                single |= end - at == mblen;
            }
            if (!single) {
                Node& target = best[at + mblen];
                const double cand = unk_score + here;
                if (target.starts_at < 0 || cand > target.score) {
                    FWSVD_CHECK(unk_id_ >= 0, where_,
                                ": the Unigram model has no unk_id for a character it cannot "
                                "tokenize");
                    target = Node{unk_id_, cand, int64_t(at)};
                }
            }
            at += mblen;
        }
        // Back from the end; consecutive unknown pieces are fused into one.
        std::vector<std::string_view> pieces;
        size_t end = s.size();
        size_t unk_start = std::string_view::npos, unk_end = 0;
        while (end > 0) {
            const Node& n = best[end];
            const size_t start = size_t(n.starts_at);
            if (n.id == unk_id_) {
                if (unk_start == std::string_view::npos) unk_end = end;
                unk_start = start;
            } else {
                if (unk_start != std::string_view::npos) {
                    pieces.push_back(s.substr(unk_start, unk_end - unk_start));
                    unk_start = std::string_view::npos;
                }
                pieces.push_back(s.substr(start, end - start));
            }
            end = start;
        }
        if (unk_start != std::string_view::npos) {
            pieces.push_back(s.substr(unk_start, unk_end - unk_start));
        }
        for (size_t k = pieces.size(); k-- > 0;) {
            const std::string piece(pieces[k]);
            auto it = ids_.find(piece);
            if (it != ids_.end()) {
                out.push_back(it->second);
                continue;
            }
            if (byte_fallback_) {
                std::vector<int32_t> bytes;
                for (unsigned char b : piece) {
                    auto bt = ids_.find(byte_token(b));
                    if (bt == ids_.end()) break;
                    bytes.push_back(bt->second);
                }
                if (bytes.size() == piece.size()) {
                    out.insert(out.end(), bytes.begin(), bytes.end());
                    continue;
                }
            }
            FWSVD_CHECK(unk_id_ >= 0, where_, ": the Unigram model has no unk_id");
            out.push_back(unk_id_);
        }
    }

    int32_t token_to_id(std::string_view token) const override {
        auto it = ids_.find(std::string(token));
        return it == ids_.end() ? -1 : it->second;
    }
    const std::string* id_to_token(int32_t id) const override {
        return id >= 0 && size_t(id) < pieces_.size() ? &pieces_[size_t(id)].first : nullptr;
    }
    int64_t vocab_size() const override { return int64_t(pieces_.size()); }

  private:
    std::vector<std::pair<std::string, double>> pieces_;
    std::unordered_map<std::string, int32_t> ids_;
    detail::ByteTrie trie_;
    double min_score_ = std::numeric_limits<double>::infinity();
    int32_t unk_id_ = -1;
    bool byte_fallback_;
    std::string where_;
};

// ---- WordPiece --------------------------------------------------------------------------------

class WordPiece final : public VocabModel {
  public:
    WordPiece(Vocab v, WordPieceModelOptions o, const std::string& where)
        : VocabModel(std::move(v)), o_(std::move(o)), where_(where) {}

    void tokenize(std::string_view w, std::vector<int32_t>& ids) const override {
        size_t chars = 0;
        for (unsigned char b : w) chars += (b & 0xC0) != 0x80;
        if (chars > size_t(o_.max_input_chars_per_word)) {
            ids.push_back(unk());
            return;
        }
        const size_t mark = ids.size();
        size_t start = 0;
        std::string sub;
        while (start < w.size()) {
            size_t end = w.size();
            int32_t found = -1;
            while (start < end) {
                sub.assign(start > 0 ? o_.continuing_subword_prefix : std::string());
                sub.append(w.substr(start, end - start));
                found = find(sub);
                if (found >= 0) break;
                do {
                    --end;
                } while (end > start && (static_cast<unsigned char>(w[end]) & 0xC0) == 0x80);
            }
            if (found < 0) {
                ids.resize(mark);
                ids.push_back(unk());
                return;
            }
            ids.push_back(found);
            start = end;
        }
    }

  private:
    int32_t unk() const {
        const int32_t id = find(o_.unk_token);
        FWSVD_CHECK(id >= 0, where_, ": the WordPiece unk_token \"", o_.unk_token,
                    "\" is not in the vocabulary");
        return id;
    }
    WordPieceModelOptions o_;
    std::string where_;
};

}  // namespace

std::unique_ptr<Model> make_bpe(Vocab vocab,
                                const std::vector<std::pair<std::string, std::string>>& merges,
                                BpeOptions options, const std::string& where) {
    return std::make_unique<Bpe>(std::move(vocab), merges, std::move(options), where);
}

std::unique_ptr<Model> make_unigram(std::vector<std::pair<std::string, double>> pieces,
                                    int64_t unk_id, bool byte_fallback, const std::string& where) {
    return std::make_unique<Unigram>(std::move(pieces), unk_id, byte_fallback, where);
}

std::unique_ptr<Model> make_word_piece(Vocab vocab, WordPieceModelOptions options,
                                       const std::string& where) {
    return std::make_unique<WordPiece>(std::move(vocab), std::move(options), where);
}

}  // namespace fwsvd::pipeline
