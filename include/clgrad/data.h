/*
 * clgrad/data.h — datasets in host memory, readers and the batch loader.
 *
 *     clg_dataset *train, *test;
 *     clg_dataset_fashion_mnist(NULL, true, &train);   // Debian's package
 *     clg_dataset_fashion_mnist(NULL, false, &test);
 *     clg_loader_opts lo = CLG_LOADER_DEFAULTS;          // 64, shuffled, seed 0
 *     clg_loader *loader;
 *     clg_loader_create(train, &lo, &loader);
 *     clg_loader_start_epoch(loader, epoch);
 *     const clg_batch *b;
 *     while (clg_loader_next(loader, &b) == CLG_OK && b) ... b->x, b->labels, b->count
 *
 * Readers check every header field against the file's real size before
 * trusting it; a bad file is an error naming the file, the byte offset and
 * what was expected, and nothing is half loaded.
 */
#ifndef CLGRAD_DATA_H
#define CLGRAD_DATA_H

#include "api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- IDX files (the MNIST family) --------------------------------------- */

#define CLG_IDX_TYPE_LIST(X)                                                           \
    X(CLG_IDX_U8, 0x08, "u8")                                                          \
    X(CLG_IDX_I8, 0x09, "i8")                                                          \
    X(CLG_IDX_I16, 0x0B, "i16")                                                        \
    X(CLG_IDX_I32, 0x0C, "i32")                                                        \
    X(CLG_IDX_F32, 0x0D, "f32")                                                        \
    X(CLG_IDX_F64, 0x0E, "f64")

typedef enum clg_idx_type { CLG_IDX_TYPE_LIST(CLG_ENUM_VALUE) } clg_idx_type;

/* "u8", "i8", "i16", "i32", "f32", "f64". */
CLG_API const char *clg_idx_type_str(clg_idx_type value);
/* The value named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_idx_type_parse(const char *name, clg_idx_type *value);

typedef struct clg_idx {
    clg_idx_type type;
    int ndim;
    int dims[8];
    size_t count; /* elements */
    void *data;   /* count elements, host byte order */
} clg_idx;

/* Reads an IDX file, plain or gzip-compressed (detected by content). */
CLG_API clg_status clg_idx_read(const char *path, clg_idx **idx);
/* Parses IDX bytes already in memory; `source` names them in errors. */
CLG_API clg_status clg_idx_parse(const void *bytes, size_t len, const char *source,
                                 clg_idx **idx);
CLG_API void clg_idx_free(clg_idx *idx);

/* ---- Datasets ----------------------------------------------------------- */

/* count samples of one shape: float32 features (images in [0, 1] when they
 * came from bytes) and, for classification, int32 labels in [0, classes). */
typedef struct clg_dataset {
    int count;
    int ndim; /* of one sample: 3 for C H W images, 1 for features */
    int shape[3];
    size_t sample;      /* floats per sample */
    float *x;           /* count * sample */
    int32_t *labels;    /* count * clg_dataset_label_len(), or NULL */
    int classes;        /* 1 + the largest label */
    bool from_bytes;    /* read from unsigned bytes, scaled to [0, 1] */
    char **class_names; /* [classes] when labels came from strings, else NULL */
    int label_len;      /* labels per sample: 1 (0 reads as 1), or T for the
                           next-token targets of a window of T ids */
    /* Samples read on demand (an image folder larger than the memory it may
     * use, clg_image_opts.memory_limit): x is NULL and clg_dataset_read
     * gives them; labels are in memory as always. */
    struct clg_lazy *lazy;
} clg_dataset;

/* Samples first .. first + count - 1 into out (count * sample floats),
 * from memory or, for a lazy dataset, decoded (and normalised) now: a file
 * that no longer decodes is CLG_BAD_FILE naming it. Safe from several
 * threads at once. */
CLG_API clg_status clg_dataset_read(const clg_dataset *dataset, int first, int count,
                                    float *out);

/* Labels per sample: d->label_len, or 1 when it is 0. */
CLG_API int clg_dataset_label_len(const clg_dataset *dataset);

/* An empty dataset for count samples of `shape`, with labels or without. */
CLG_API clg_status clg_dataset_create(int count, int ndim, const int *shape,
                                      bool labelled, clg_dataset **dataset);
CLG_API void clg_dataset_free(clg_dataset *dataset);

/* Images (IDX, [N, H, W] or [N, C, H, W], bytes scaled to [0, 1] or float32
 * kept) and labels (IDX [N] bytes). Counts must agree. */
CLG_API clg_status clg_dataset_from_idx(const char *images, const char *labels,
                                        clg_dataset **dataset);

/* ---- CSV ---------------------------------------------------------------- */

typedef struct clg_csv_opts {
    int header;             /* 1: first row names the columns, 0: no header,
                               -1: a header when the first row has a non-number */
    const char *label_name; /* label column by header name, or NULL */
    int label_index;        /* by 0-based index when label_name is NULL;
                               -1: the last column, -2: no labels */
    char delimiter;
} clg_csv_opts;

#define CLG_CSV_DEFAULTS                                                               \
    {                                                                                  \
        .header = -1, .label_name = NULL, .label_index = -1, .delimiter = ','          \
    }

/* Numeric columns become float features; the label column holds integer
 * classes or strings, mapped to ids in sorted order (class_names keeps the
 * map). A row with the wrong number of fields, or a field that is not a
 * number, is an error naming the line and column. Quoted fields ("a,b",
 * "say ""hi""") are understood. */
CLG_API clg_status clg_dataset_from_csv(const char *path, const clg_csv_opts *opts,
                                        clg_dataset **dataset);
CLG_API clg_status clg_dataset_from_csv_text(const char *text, size_t len,
                                             const char *source,
                                             const clg_csv_opts *opts,
                                             clg_dataset **dataset);

/* Fashion-MNIST from `dir` (NULL: /usr/share/datasets/fashion-mnist, the
 * Debian package dataset-fashion-mnist): the training set (60000) or the
 * test set (10000), as [1, 28, 28] images in [0, 1]. Any directory of
 * MNIST-named IDX files works (train-images-idx3-ubyte[.gz], ...). */
CLG_API clg_status clg_dataset_fashion_mnist(const char *dir, bool train,
                                             clg_dataset **dataset);

/* ---- Image folders ------------------------------------------------------ */

/* How images become samples: `channels` 1 (gray) or 3 (RGB), converted
 * from whatever the file holds; `width` x `height`, the model's input; and
 * an image of another size resized (bilinear, as torchvision's Resize with
 * antialias=False), its centre cropped, or refused. */
typedef enum clg_resize {
    CLG_RESIZE_NONE,
    CLG_RESIZE_BILINEAR,
    CLG_RESIZE_CROP,
} clg_resize;

typedef struct clg_image_opts {
    int channels, width, height;
    clg_resize resize;
    /* Bytes the decoded images may take (0: no limit). A folder whose
     * images fit is decoded now, by several threads; a larger one is a lazy
     * dataset: every file's header read now (a file that is not an image,
     * or of a size that does not fit, refused before training), the pixels
     * decoded when the loader's threads want them, up to memory_limit bytes
     * of them kept. */
    size_t memory_limit;
    int threads; /* decoding threads (0: one per core, at most 8) */
} clg_image_opts;

/* A PNG or JPEG file (by its extension) as `channels` bytes a pixel, rows
 * top to bottom; *pixels malloc'd. A file that does not decode is
 * CLG_BAD_FILE naming it and the decoder's reason. */
CLG_API clg_status clg_image_decode(const char *path, int channels, int *width,
                                    int *height, unsigned char **pixels);

/* An image folder as torchvision's ImageFolder reads it: one subfolder per
 * class (names sorted: class k is the k-th, its name in class_names), in
 * each its .png, .jpg and .jpeg files in sorted order (others and dot files
 * skipped), bytes scaled to [0, 1]. No subfolders, a class folder without
 * an image, a file that does not decode and a size that does not fit are
 * errors naming the folder or file. */
CLG_API clg_status clg_dataset_from_image_folder(const char *dir,
                                                 const clg_image_opts *opts,
                                                 clg_dataset **dataset);

/* CIFAR-10 or CIFAR-100 (`classes` 10 or 100) in the binary form the
 * dataset's site documents, from `dir`: the training batches or the test
 * batch, [N, 3, 32, 32] bytes scaled to [0, 1] (CIFAR-100: the fine
 * labels), the classes named from batches.meta.txt or fine_label_names.txt
 * where those are there. A file of the wrong length is CLG_BAD_FILE naming
 * it and its size; a missing one CLG_IO_ERROR naming it. */
CLG_API clg_status clg_dataset_cifar(const char *dir, int classes, bool train,
                                     clg_dataset **dataset);

/* Moves a seeded random `fraction` of d's samples into a new dataset *val;
 * d keeps the rest, in their order. */
CLG_API clg_status clg_dataset_split(clg_dataset *d, float fraction, uint64_t seed,
                                     clg_dataset **val);

/* Keeps only the samples whose label is one of classes[0..count), relabelled
 * 0..count-1 in that order (class names too), and at most `per_class` of
 * each (0: all), the first ones in the dataset's order. */
CLG_API clg_status clg_dataset_select(clg_dataset *d, const int *classes, int count,
                                      int per_class);

/* One-hot targets for losses that want them (MSE, BCE): a malloc'd
 * [count, classes] array with 1 at each sample's label. */
CLG_API clg_status clg_dataset_one_hot(const clg_dataset *d, int classes,
                                       float **targets);

/* Mean and standard deviation per channel (dim 0 of a sample; one channel
 * for flat features), over every sample of d. */
CLG_API clg_status clg_dataset_stats(const clg_dataset *d, float *mean, float *std,
                                     int channels);

/* x = (x - mean[c]) / std[c] per channel. */
CLG_API clg_status clg_dataset_normalize(clg_dataset *d, const float *mean,
                                         const float *std, int channels);

/* A normalisation of the inputs as a value: what training used, which a
 * checkpoint carries so that evaluation and prediction apply the same. Its
 * text form is "MEAN,..;STD,.." with one number per channel ("0.286;0.353"
 * for one channel), as checkpoints store it. channels = 0 means none. */
#define CLG_NORM_MAX_CHANNELS 4
typedef struct clg_normalization {
    int channels;
    float mean[CLG_NORM_MAX_CHANNELS], std[CLG_NORM_MAX_CHANNELS];
} clg_normalization;

/* The statistics of d per channel (clg_dataset_stats): what "auto"
 * normalisation uses. More than CLG_NORM_MAX_CHANNELS channels is
 * CLG_INVALID_ARGUMENT. */
CLG_API clg_status clg_normalization_of(const clg_dataset *d, clg_normalization *n);

/* Normalises d in place; none does nothing. The channels must agree, each
 * std be > 0 and each mean finite, else CLG_INVALID_ARGUMENT. */
CLG_API clg_status clg_normalization_apply(const clg_normalization *n, clg_dataset *d);

/* Reads the text form strictly: finite means, finite stds > 0, as many of
 * each, at most CLG_NORM_MAX_CHANNELS, nothing else (CLG_BAD_FILE). */
CLG_API clg_status clg_normalization_parse(const char *text, clg_normalization *n);

/* Writes the text form ("" for none) into buf and returns buf; 128 bytes
 * hold any normalisation. */
CLG_API const char *clg_normalization_format(const clg_normalization *n, char *buf,
                                             size_t len);

/* ---- Text and tokenisation ------------------------------------------------ */

/* Documents: a file's lines, a file whole, or every regular file of a
 * directory (in name order). Text must be UTF-8: an invalid sequence is an
 * error naming the file and byte offset. */
typedef struct clg_text {
    int count;
    char **docs;     /* NUL-terminated */
    size_t *lengths; /* bytes */
} clg_text;

CLG_API clg_status clg_text_read(const char *path, bool per_line, clg_text **text);
/* The same from memory: one document, or one per line. */
CLG_API clg_status clg_text_from_string(const char *s, size_t len, bool per_line,
                                        clg_text **text);
CLG_API void clg_text_free(clg_text *text);

#define CLG_TOKENIZER_TYPE_LIST(X)                                                     \
    X(CLG_TOKENIZER_BYTE, 0, "byte") /* ids 0-255 are bytes, 256 is <pad> */           \
    X(CLG_TOKENIZER_CHAR, 1, "char") /* 0 <pad>, 1 <unk>, then the characters seen */  \
    X(CLG_TOKENIZER_WORD, 2, "word") /* 0 <pad>, 1 <unk>, then words by frequency */   \
    X(CLG_TOKENIZER_BPE, 3, "bpe")   /* bytes, then learned merges, then <pad> */      \
    X(CLG_TOKENIZER_GPT2, 4, "gpt2") /* GPT-2's byte-level BPE: its vocab.json ids */

typedef enum clg_tokenizer_type {
    CLG_TOKENIZER_TYPE_LIST(CLG_ENUM_VALUE)
} clg_tokenizer_type;

/* "byte", "char", "word", "bpe", as tokenizer files name them. */
CLG_API const char *clg_tokenizer_type_str(clg_tokenizer_type value);
/* The value named `name`, or CLG_INVALID_ARGUMENT listing the names. */
CLG_API clg_status clg_tokenizer_type_parse(const char *name,
                                            clg_tokenizer_type *value);

typedef struct clg_tokenizer_opts {
    clg_tokenizer_type type;
    int max_vocab; /* word: at most this many ids (0: no limit) */
    int min_count; /* word: drop rarer words (to <unk>) */
    int merges;    /* BPE: merges to learn */
    bool plain;    /* no <pad> and <unk> ids, as a language model's data has
                      no padding: char ids are the corpus' distinct characters
                      in code-point order, byte ids the 256 byte values, BPE
                      ids bytes then merges; text with a character or word
                      outside the vocabulary is an error, not <unk> */
} clg_tokenizer_opts;

#define CLG_TOKENIZER_DEFAULTS                                                         \
    {                                                                                  \
        .type = CLG_TOKENIZER_BPE, .max_vocab = 0, .min_count = 1, .merges = 256,      \
        .plain = false                                                                 \
    }

typedef struct clg_tokenizer clg_tokenizer;

/* Builds a tokenizer from the training corpus (the byte tokenizer needs
 * none: corpus may be NULL). */
CLG_API clg_status clg_tokenizer_train(const clg_tokenizer_opts *opts,
                                       const clg_text *corpus,
                                       clg_tokenizer **tokenizer);
CLG_API void clg_tokenizer_free(clg_tokenizer *tokenizer);
CLG_API int clg_tokenizer_vocab_size(const clg_tokenizer *tokenizer);
CLG_API int clg_tokenizer_pad(const clg_tokenizer *tokenizer); /* -1 when plain */
/* A GPT-2 tokenizer's end-of-text id (its first special token), else -1. */
CLG_API int clg_tokenizer_end_of_text(const clg_tokenizer *tokenizer);
CLG_API clg_tokenizer_type clg_tokenizer_type_of(const clg_tokenizer *tokenizer);

/* Token ids of text (malloc'd *ids, *count of them). */
CLG_API clg_status clg_tokenizer_encode(const clg_tokenizer *tokenizer,
                                        const char *text, size_t len, int32_t **ids,
                                        size_t *count);
/* Text of ids (malloc'd, NUL-terminated). decode(encode(t)) == t for the
 * byte and BPE tokenizers; words are joined by spaces. */
CLG_API clg_status clg_tokenizer_decode(const clg_tokenizer *tokenizer,
                                        const int32_t *ids, size_t count, char **text,
                                        size_t *len);

/* GPT-2's byte-level BPE from a directory as Hugging Face's
 * GPT2TokenizerFast.save_pretrained() writes it: DIR/vocab.json (token ->
 * id) and DIR/merges.txt (the merges by rank), the special tokens of
 * DIR/tokenizer_config.json's added_tokens_decoder when it is there, else
 * "<|endoftext|>" where vocab.json has it. encode gives the ids
 * GPT2TokenizerFast gives: special tokens whole, the rest split by GPT-2's
 * pattern (contractions, letters, numbers, other symbols, whitespace runs)
 * and merged by rank; text that is not UTF-8 is an error naming the byte.
 * decode(encode(x)) == x. A malformed file is CLG_BAD_FILE naming it and
 * the line or token. */
CLG_API clg_status clg_tokenizer_load_gpt2(const char *dir, clg_tokenizer **tokenizer);
/* Writes a GPT-2 tokenizer as DIR/vocab.json, DIR/merges.txt and
 * DIR/tokenizer_config.json, which transformers' AutoTokenizer loads;
 * makes DIR if it is missing (not its parents). */
CLG_API clg_status clg_tokenizer_save_gpt2(const clg_tokenizer *tokenizer,
                                           const char *dir);

/* The vocabulary (and merges) as a text file, and back. */
CLG_API clg_status clg_tokenizer_save(const clg_tokenizer *tokenizer, const char *path);
CLG_API clg_status clg_tokenizer_load(const char *path, clg_tokenizer **tokenizer);
/* The same text in memory (a checkpoint's metadata): *text malloc'd. */
CLG_API clg_status clg_tokenizer_to_string(const clg_tokenizer *tokenizer, char **text);
CLG_API clg_status clg_tokenizer_from_string(const char *text, const char *source,
                                             clg_tokenizer **tokenizer);

/* Sequences cut or padded to `length` ids (pad with `pad`), as a dataset of
 * [length] samples holding the ids (floats, exact below 2^24), labelled with
 * `labels` when not NULL. */
CLG_API clg_status clg_dataset_from_sequences(const int32_t *const *seqs,
                                              const size_t *counts, int n, int length,
                                              int pad, const int32_t *labels,
                                              clg_dataset **dataset);

/* Next-token prediction: every window of `length` ids (starting each
 * `stride`), labelled with the id that follows it. */
CLG_API clg_status clg_dataset_next_token(const int32_t *ids, size_t count, int length,
                                          int stride, int vocab, clg_dataset **dataset);

/* A language model's data: the non-overlapping windows of `length` ids,
 * window k holding ids[k T .. k T + T - 1] as its sample and ids[k T + 1 ..
 * k T + T] as its T labels (label_len = T); the tail that does not fill a
 * window is dropped. */
CLG_API clg_status clg_dataset_windows(const int32_t *ids, size_t count, int length,
                                       int vocab, clg_dataset **dataset);

/* ---- Augmentation ------------------------------------------------------- */

typedef struct clg_augment {
    float hflip;       /* probability of a horizontal flip */
    float vflip;       /* probability of a vertical flip */
    int crop_pad;      /* random crop after padding by this many pixels */
    float rotate;      /* rotate by up to +-this many degrees */
    float noise;       /* standard deviation of additive Gaussian noise */
    int cutout;        /* side of a zeroed square, at a random place */
    float probability; /* of applying crop, rotate, noise and cutout */
    /* Colour jitter as torchvision's ColorJitter(brightness, contrast,
     * saturation), on every image, in a random order: each a factor drawn
     * from [max(0, 1 - v), 1 + v] (0: not applied); brightness scales the
     * pixels, contrast blends them with the image's mean grey, saturation
     * (3 channels) with each pixel's grey (0.2989 R + 0.587 G + 0.114 B),
     * each clamped to [0, 1]. Pixels are the dataset's values before the
     * loader's `normalized` (clg_loader_opts), in [0, 1] as clgrad's image
     * readers give them. */
    float brightness, contrast, saturation;
} clg_augment;

#define CLG_AUGMENT_NONE                                                               \
    {                                                                                  \
        .hflip = 0, .vflip = 0, .crop_pad = 0, .rotate = 0, .noise = 0, .cutout = 0,   \
        .probability = 1.0f, .brightness = 0, .contrast = 0, .saturation = 0           \
    }

/* Augmentation as clgrad-train --augment names it: a comma-separated list
 * of flip[=P], vflip[=P], crop[=PAD], rotate[=DEG], noise[=STD],
 * cutout[=SIZE], brightness[=V], contrast[=V], saturation[=V], each with
 * its value or its default (0.5, 0.5, 2, 10, 0.05, 8, 0.2, 0.2, 0.2),
 * crop, rotate, noise and cutout applied with probability 0.5. An unknown
 * transform or a value out of range is CLG_INVALID_ARGUMENT naming it. */
CLG_API clg_status clg_augment_parse(const char *list, clg_augment *augment);

/* ---- Loader ------------------------------------------------------------- */

typedef struct clg_loader_opts {
    int batch_size;
    bool shuffle;
    bool drop_last; /* drop a last batch smaller than batch_size */
    uint64_t seed;  /* same seed, same order and augmentation */
    bool prefetch;  /* assemble batch k+1 in a thread while k is used */
    clg_augment augment;
    /* Data parallelism: with shards > 1, this loader yields only part `shard`
     * (0 .. shards - 1) of each batch of batch_size: its samples count shard /
     * shards .. count (shard + 1) / shards - 1. Every shard draws the same
     * order (the same seed), so the shards together see exactly the batches
     * one loader sees. shard_weights (NULL: equal) splits them in proportion
     * to `shards` positive weights instead (devices of different speeds):
     * shard r takes count W(r) / W .. count W(r + 1) / W - 1, W(r) the sum of
     * the weights before r; the caller keeps the array while the loader lives. */
    int shard, shards;
    const double *shard_weights;
    /* The normalisation the dataset's values already had applied (channels 0:
     * none): colour jitter undoes it, works on the pixels, and applies it
     * again. */
    clg_normalization normalized;
    int workers; /* threads decoding a lazy dataset's batch (0: 4) */
} clg_loader_opts;

#define CLG_LOADER_DEFAULTS                                                            \
    {                                                                                  \
        .batch_size = 64, .shuffle = true, .drop_last = false, .seed = 0,              \
        .prefetch = true, .augment = CLG_AUGMENT_NONE, .shard = 0, .shards = 1,        \
        .shard_weights = NULL, .normalized = {0, {0, 0, 0, 0}, {0, 0, 0, 0}},          \
        .workers = 0                                                                   \
    }

typedef struct clg_batch {
    int count;             /* samples in this batch */
    const float *x;        /* count * sample floats */
    const int32_t *labels; /* count * the dataset's label_len, or NULL */
    int index;             /* batch number within the epoch */
    int total;             /* samples of the whole batch, every shard's (= count
                              without sharding) */
    int first;             /* this shard's first sample within the batch (0
                              without sharding) */
} clg_batch;

typedef struct clg_loader clg_loader;

/* A loader over d, which it reads (from its prefetch thread too) without
 * copying: d must outlive the loader and stay unchanged while it is used.
 * Free with clg_loader_free. */
CLG_API clg_status clg_loader_create(const clg_dataset *d, const clg_loader_opts *opts,
                                     clg_loader **loader);
CLG_API void clg_loader_free(clg_loader *loader);

/* Begins an epoch: the order is a function of (seed, epoch). */
CLG_API clg_status clg_loader_start_epoch(clg_loader *loader, int epoch);

/* The next batch, or *batch = NULL at the end of the epoch. The batch stays
 * valid until the next call. */
CLG_API clg_status clg_loader_next(clg_loader *loader, const clg_batch **batch);

/* Batches per epoch; the dataset the loader reads. */
CLG_API int clg_loader_batches(const clg_loader *loader);
CLG_API const clg_dataset *clg_loader_dataset(const clg_loader *loader);

#ifdef __cplusplus
}
#endif

#endif
