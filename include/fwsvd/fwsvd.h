/*
 * fwsvd C API: classify texts with a BERT checkpoint (dense or factored) on the CPU.
 *
 * Threading: a model is immutable once opened and may be shared by any number of threads; a
 * session holds one thread's scratch memory and must be used by one thread at a time (create one
 * per thread). fwsvd_last_error() is per thread. No C++ exception crosses this interface: every
 * failure is a status code with a message.
 *
 *   fwsvd_model* model;
 *   if (fwsvd_model_open("bert-mini-sst2", &model) != FWSVD_OK) puts(fwsvd_last_error());
 *   fwsvd_session* s;
 *   fwsvd_session_create(model, &s);
 *   const char* texts[] = {"a charming journey", "dull and tiresome"};
 *   int labels[2];
 *   float probs[4];
 *   fwsvd_classify(s, 2, texts, NULL, 0, NULL, probs, labels);
 *   fwsvd_session_free(s);
 *   fwsvd_model_free(model);
 */
#ifndef FWSVD_FWSVD_H_
#define FWSVD_FWSVD_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FWSVD_API __attribute__((visibility("default")))
#else
#define FWSVD_API
#endif

typedef enum fwsvd_status {
    FWSVD_OK = 0,
    FWSVD_ERR_INVALID_INPUT = 1, /* a file or value given is wrong (see fwsvd_last_error) */
    FWSVD_ERR_USAGE = 2,         /* an argument is invalid (NULL where not allowed, ...) */
    FWSVD_ERR_IO = 3,            /* the system refused: open, read, memory */
    FWSVD_ERR_INTERNAL = 4       /* a bug in fwsvd */
} fwsvd_status;

typedef struct fwsvd_model fwsvd_model;
typedef struct fwsvd_session fwsvd_session;

/* "MAJOR.MINOR.PATCH" */
FWSVD_API const char* fwsvd_version(void);
/* The message of this thread's last failed call ("" if none). Valid until the next call. */
FWSVD_API const char* fwsvd_last_error(void);
/* Threads for the compute (OpenMP) of calls made from the calling thread (an OpenMP setting is
   per thread: other threads keep theirs); n <= 0 keeps the default (all cores). */
FWSVD_API void fwsvd_set_num_threads(int n);

/* Opens a model folder (config.json, model.safetensors and, for fwsvd_classify, the tokenizer
   files: tokenizer.json, vocab.txt, spiece.model, ...; without them only fwsvd_classify_ids
   works). */
FWSVD_API fwsvd_status fwsvd_model_open(const char* dir, fwsvd_model** out);
FWSVD_API void fwsvd_model_free(fwsvd_model* model);
/* Number of outputs per example (1 for regression). */
FWSVD_API int fwsvd_model_num_labels(const fwsvd_model* model);
/* 1 when the model does regression (its single output is a score), else 0. */
FWSVD_API int fwsvd_model_is_regression(const fwsvd_model* model);
/* The name of label id (id2label), or NULL when id is out of range. Owned by the model. */
FWSVD_API const char* fwsvd_model_label(const fwsvd_model* model, int id);

FWSVD_API fwsvd_status fwsvd_session_create(const fwsvd_model* model, fwsvd_session** out);
/*
 * A session whose encoder linear layers multiply in `precision`: "f32" (fwsvd_session_create's,
 * exact), "bf16" (weights and activations rounded to bfloat16, f32 accumulation: about twice
 * the GEMM speed on CPUs with AVX512_BF16; FWSVD_ERR_INVALID_INPUT on others) or "int8" (weights
 * quantised per output channel, activations per row, int32 sums; 7-bit weights on CPUs without
 * VNNI; f32 on CPUs without AVX2). FWSVD_ERR_INVALID_INPUT for another name.
 */
FWSVD_API fwsvd_status fwsvd_session_create_precision(const fwsvd_model* model,
                                                      const char* precision, fwsvd_session** out);
FWSVD_API void fwsvd_session_free(fwsvd_session* session);

/*
 * Classifies n texts, or n text pairs when text_b is not NULL (an entry of text_b may be NULL
 * for a single text). Texts are UTF-8, tokenized like transformers' tokenizer and truncated
 * longest-first to max_len tokens (0: 128). Outputs, each optional (NULL) and in input order:
 * logits [n * num_labels], probabilities [n * num_labels] (softmax; for regression the score),
 * labels [n] (arg-max id; 0 for regression).
 */
FWSVD_API fwsvd_status fwsvd_classify(fwsvd_session* session, size_t n, const char* const* text_a,
                                      const char* const* text_b, int max_len, float* logits,
                                      float* probabilities, int* labels);

/*
 * Like fwsvd_classify on pre-tokenized input: ids[i] holds lengths[i] token ids (with [CLS] and
 * [SEP]); type_ids may be NULL (all 0) or hold NULL entries.
 */
FWSVD_API fwsvd_status fwsvd_classify_ids(fwsvd_session* session, size_t n,
                                          const int32_t* const* ids, const int32_t* const* type_ids,
                                          const size_t* lengths, float* logits,
                                          float* probabilities, int* labels);

#ifdef __cplusplus
}
#endif

#endif /* FWSVD_FWSVD_H_ */
