// The C API: status codes and messages, results equal to the C++ session, and one model shared
// by many threads with a session each (every result equal to the single-threaded one).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "include/fwsvd/fwsvd.h"
#include "models/session.h"
#include "runtime/tokenizer.h"
#include "tests/test_util.h"

namespace fwsvd::testing {
namespace {

std::string sst2_dir() {
    return (shared_dir() / "models" / "bert-mini-sst2").string();
}

TEST(CApi, ErrorsAreStatusCodesWithMessages) {
    fwsvd_model* m = reinterpret_cast<fwsvd_model*>(0x1);
    EXPECT_EQ(fwsvd_model_open("/nonexistent/model", &m), FWSVD_ERR_INVALID_INPUT);
    EXPECT_EQ(m, nullptr);
    EXPECT_NE(std::string(fwsvd_last_error()).find("/nonexistent/model"), std::string::npos)
        << fwsvd_last_error();
    EXPECT_EQ(fwsvd_model_open(nullptr, &m), FWSVD_ERR_USAGE);
    EXPECT_EQ(fwsvd_session_create(nullptr, nullptr), FWSVD_ERR_USAGE);
    EXPECT_EQ(fwsvd_classify(nullptr, 1, nullptr, nullptr, 0, nullptr, nullptr, nullptr),
              FWSVD_ERR_USAGE);
    EXPECT_STRNE(fwsvd_version(), "");
}

TEST(CApi, ClassifyEqualsTheSessionAndReportsBadText) {
    FWSVD_REQUIRE_SHARED();
    fwsvd_model* m = nullptr;
    ASSERT_EQ(fwsvd_model_open(sst2_dir().c_str(), &m), FWSVD_OK) << fwsvd_last_error();
    ASSERT_EQ(fwsvd_model_num_labels(m), 2);
    EXPECT_EQ(fwsvd_model_is_regression(m), 0);
    EXPECT_STREQ(fwsvd_model_label(m, 1), "LABEL_1");
    EXPECT_EQ(fwsvd_model_label(m, 2), nullptr);
    fwsvd_session* s = nullptr;
    ASSERT_EQ(fwsvd_session_create(m, &s), FWSVD_OK);
    const char* texts[] = {"a charming and often affecting journey", "dull , tiresome and long",
                           "it is"};
    float logits[6], probs[6];
    int labels[3];
    ASSERT_EQ(fwsvd_classify(s, 3, texts, nullptr, 0, logits, probs, labels), FWSVD_OK)
        << fwsvd_last_error();
    EXPECT_EQ(labels[0], 1);
    EXPECT_EQ(labels[1], 0);

    auto model = Model::load(sst2_dir());
    auto tok = load_tokenizer(sst2_dir());
    Batch b;
    for (const char* t : texts) {
        Encoding e = tok->encode(t, 128);
        b.add(e.ids.data(), e.type_ids.data(), int64_t(e.ids.size()));
    }
    Session session(model);
    std::vector<float> ref = session.logits(b);
    for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(logits[i], ref[size_t(i)]);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(probs[2 * i] + probs[2 * i + 1], 1.0f, 1e-6);

    // Pre-tokenized input gives the same logits (the same batch: on some CPUs oneDNN's GEMMs
    // round differently for other row counts).
    std::vector<Encoding> enc;
    std::vector<const int32_t*> ids;
    std::vector<size_t> lens;
    for (const char* t : texts) enc.push_back(tok->encode(t, 128));
    for (const Encoding& e : enc) {
        ids.push_back(e.ids.data());
        lens.push_back(e.ids.size());
    }
    float l0[6];
    ASSERT_EQ(fwsvd_classify_ids(s, 3, ids.data(), nullptr, lens.data(), l0, nullptr, nullptr),
              FWSVD_OK);
    for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(l0[i], ref[size_t(i)]);

    const char* bad[] = {"caf\xc3"};
    EXPECT_EQ(fwsvd_classify(s, 1, bad, nullptr, 0, logits, nullptr, nullptr),
              FWSVD_ERR_INVALID_INPUT);
    EXPECT_NE(std::string(fwsvd_last_error()).find("UTF-8"), std::string::npos)
        << fwsvd_last_error();
    const int32_t big[] = {2, 999999, 3};
    const int32_t* big_ids[] = {big};
    const size_t big_len[] = {3};
    EXPECT_EQ(fwsvd_classify_ids(s, 1, big_ids, nullptr, big_len, logits, nullptr, nullptr),
              FWSVD_ERR_INVALID_INPUT);
    fwsvd_session_free(s);
    fwsvd_model_free(m);
}

// A bf16 session classifies like the f32 one (logits within bf16's rounding); unknown
// precisions are refused.
TEST(CApi, Bf16SessionAndUnknownPrecision) {
    FWSVD_REQUIRE_SHARED();
    fwsvd_model* m = nullptr;
    ASSERT_EQ(fwsvd_model_open(sst2_dir().c_str(), &m), FWSVD_OK) << fwsvd_last_error();
    fwsvd_session* s = nullptr;
    EXPECT_EQ(fwsvd_session_create_precision(m, "fp8", &s), FWSVD_ERR_INVALID_INPUT);
    EXPECT_NE(std::string(fwsvd_last_error()).find("fp8"), std::string::npos);
    EXPECT_EQ(s, nullptr);
    EXPECT_EQ(fwsvd_session_create_precision(m, nullptr, &s), FWSVD_ERR_USAGE);
    if (kernels::bf16_matmul_supported()) {
        fwsvd_session* f32 = nullptr;
        ASSERT_EQ(fwsvd_session_create_precision(m, "f32", &f32), FWSVD_OK);
        ASSERT_EQ(fwsvd_session_create_precision(m, "bf16", &s), FWSVD_OK) << fwsvd_last_error();
        const char* texts[] = {"a charming and often affecting journey",
                               "dull , tiresome and long"};
        float a[4], b[4];
        int la[2], lb[2];
        ASSERT_EQ(fwsvd_classify(f32, 2, texts, nullptr, 0, a, nullptr, la), FWSVD_OK);
        ASSERT_EQ(fwsvd_classify(s, 2, texts, nullptr, 0, b, nullptr, lb), FWSVD_OK);
        for (int i = 0; i < 4; ++i) EXPECT_NEAR(a[i], b[i], 0.1);
        EXPECT_EQ(la[0], lb[0]);
        EXPECT_EQ(la[1], lb[1]);
        fwsvd_session_free(f32);
        fwsvd_session_free(s);
    }
    fwsvd_model_free(m);
}

// An int8 session classifies like the f32 one (logits within 0.25 of it on these two texts:
// int8's quantisation moves bert-mini's logits by up to about 0.1) but not identically.
TEST(CApi, Int8Session) {
    FWSVD_REQUIRE_SHARED();
    fwsvd_model* m = nullptr;
    ASSERT_EQ(fwsvd_model_open(sst2_dir().c_str(), &m), FWSVD_OK) << fwsvd_last_error();
    fwsvd_session* f32 = nullptr;
    fwsvd_session* s = nullptr;
    ASSERT_EQ(fwsvd_session_create_precision(m, "f32", &f32), FWSVD_OK);
    ASSERT_EQ(fwsvd_session_create_precision(m, "int8", &s), FWSVD_OK) << fwsvd_last_error();
    const char* texts[] = {"a charming and often affecting journey", "dull , tiresome and long"};
    float a[4], b[4];
    int la[2], lb[2];
    ASSERT_EQ(fwsvd_classify(f32, 2, texts, nullptr, 0, a, nullptr, la), FWSVD_OK);
    ASSERT_EQ(fwsvd_classify(s, 2, texts, nullptr, 0, b, nullptr, lb), FWSVD_OK);
    double diff = 0;
    for (int i = 0; i < 4; ++i) {
        EXPECT_NEAR(a[i], b[i], 0.25);
        diff = std::max(diff, double(std::abs(a[i] - b[i])));
    }
    EXPECT_GT(diff, 1e-4) << "int8 logits equal f32's: was int8 used?";
    EXPECT_EQ(la[0], lb[0]);
    EXPECT_EQ(la[1], lb[1]);
    fwsvd_session_free(f32);
    fwsvd_session_free(s);
    fwsvd_model_free(m);
}

// N threads × M requests of mixed lengths against one model: every result equals the
// single-threaded one, bit for bit (same batch, same thread count inside each call).
TEST(CApi, OneModelManyThreadsEachWithASession) {
    FWSVD_REQUIRE_SHARED();
    fwsvd_set_num_threads(1);
    fwsvd_model* m = nullptr;
    ASSERT_EQ(fwsvd_model_open(sst2_dir().c_str(), &m), FWSVD_OK) << fwsvd_last_error();
    std::vector<std::string> texts;
    std::string t = "good";
    for (int i = 0; i < 24; ++i) {
        texts.push_back(t);
        t += (i % 3 == 0) ? " but rather long and winding" : " , fine";
    }
    auto classify_all = [&](fwsvd_session* s, std::vector<float>* out) {
        out->assign(texts.size() * 2, 0.0f);
        for (size_t i = 0; i < texts.size(); ++i) {
            // Requests of 1..3 texts of different lengths.
            size_t n = 1 + i % 3;
            if (i + n > texts.size()) n = texts.size() - i;
            std::vector<const char*> ptrs;
            for (size_t k = 0; k < n; ++k) ptrs.push_back(texts[i + k].c_str());
            std::vector<float> l(n * 2);
            if (fwsvd_classify(s, n, ptrs.data(), nullptr, 0, l.data(), nullptr, nullptr) !=
                FWSVD_OK) {
                return false;
            }
            (*out)[2 * i] = l[0];
            (*out)[2 * i + 1] = l[1];
        }
        return true;
    };
    fwsvd_session* s0 = nullptr;
    ASSERT_EQ(fwsvd_session_create(m, &s0), FWSVD_OK);
    std::vector<float> ref;
    ASSERT_TRUE(classify_all(s0, &ref));
    fwsvd_session_free(s0);

    const int kThreads = 6, kRounds = 4;
    std::vector<std::vector<float>> got(kThreads);
    std::vector<int> ok(kThreads, 1);
    std::vector<std::thread> pool;
    for (int th = 0; th < kThreads; ++th) {
        pool.emplace_back([&, th] {
            // The thread count is per calling thread (OpenMP's); the reference ran on one.
            fwsvd_set_num_threads(1);
            fwsvd_session* s = nullptr;
            if (fwsvd_session_create(m, &s) != FWSVD_OK) {
                ok[size_t(th)] = 0;
                return;
            }
            for (int r = 0; r < kRounds && ok[size_t(th)]; ++r) {
                ok[size_t(th)] = classify_all(s, &got[size_t(th)]) && got[size_t(th)] == ref;
            }
            fwsvd_session_free(s);
        });
    }
    for (auto& p : pool) p.join();
    for (int th = 0; th < kThreads; ++th) EXPECT_TRUE(ok[size_t(th)]) << "thread " << th;
    fwsvd_model_free(m);
    fwsvd_set_num_threads(0);
}

}  // namespace
}  // namespace fwsvd::testing
