/* Classifies the texts given on the command line with the fwsvd C API.
 *   classify MODEL_DIR TEXT...
 * Prints one line per text: the label, its probability, and the text. */
#include <fwsvd/fwsvd.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR TEXT...\n", argv[0]);
        return 2;
    }
    fwsvd_model* model = NULL;
    if (fwsvd_model_open(argv[1], &model) != FWSVD_OK) {
        fprintf(stderr, "error: %s\n", fwsvd_last_error());
        return 1;
    }
    fwsvd_session* session = NULL;
    if (fwsvd_session_create(model, &session) != FWSVD_OK) {
        fprintf(stderr, "error: %s\n", fwsvd_last_error());
        fwsvd_model_free(model);
        return 1;
    }
    const size_t n = (size_t)(argc - 2);
    const int c = fwsvd_model_num_labels(model);
    float* probs = malloc(n * (size_t)c * sizeof(float));
    int* labels = malloc(n * sizeof(int));
    int rc = 0;
    if (fwsvd_classify(session, n, (const char* const*)(argv + 2), NULL, 0, NULL, probs, labels) !=
        FWSVD_OK) {
        fprintf(stderr, "error: %s\n", fwsvd_last_error());
        rc = 1;
    } else {
        for (size_t i = 0; i < n; ++i) {
            if (fwsvd_model_is_regression(model)) {
                printf("score %.4f\t%s\n", probs[i], argv[2 + i]);
            } else {
                printf("%s %.4f\t%s\n", fwsvd_model_label(model, labels[i]),
                       probs[i * (size_t)c + (size_t)labels[i]], argv[2 + i]);
            }
        }
    }
    free(probs);
    free(labels);
    fwsvd_session_free(session);
    fwsvd_model_free(model);
    return rc;
}
