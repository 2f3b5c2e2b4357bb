/* The compiled OTLP decoder: protobuf wire format -> Arrow column buffers, no object per attribute.
 *
 * spyglass/collector/_decode.py is the reference; this file reads the same requests into the same
 * columns and the same JSON text, byte for byte (tests/collector/test_wire_differential.py feeds
 * both the same corpus and compares). It reads the wire format itself, in one pass per message,
 * writing each column's bytes straight into a growing buffer; Python objects are made only at the
 * end (one bytes object per buffer, one tuple per resource/scope, one string per rejection).
 *
 * It never decides that a body is unreadable: whenever the wire format is malformed, or takes a
 * shape this file does not read exactly as upb does (a singular message field sent twice, which
 * upb merges; several AnyValue fields; groups; a duplicate key in a map-like JSON object; entity
 * refs; deep nesting), decode() returns None and the caller runs the Python decoder, which gives
 * upb's verdict and message. So rejections and error messages are the Python decoder's by
 * construction; what this file must get right is the content of well-formed requests.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- growing buffers ------------------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t n, cap;
} Buf;

typedef struct St St;
static void bail(St *st);
static void nomem(St *st);

static __attribute__((noinline)) void buf_grow(St *st, Buf *b, size_t extra) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) nomem(st);
    b->p = p;
    b->cap = cap;
}

static inline void buf_reserve(St *st, Buf *b, size_t extra) {
    if (__builtin_expect(b->n + extra > b->cap, 0)) buf_grow(st, b, extra);
}

static inline void buf_put(St *st, Buf *b, const void *s, size_t n) {
    buf_reserve(st, b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

#define PUTS(st, b, lit) buf_put(st, b, lit, sizeof(lit) - 1)

static inline void buf_ch(St *st, Buf *b, char c) {
    buf_reserve(st, b, 1);
    b->p[b->n++] = c;
}

/* ---- columns ------------------------------------------------------------------------------- */

/* C_DSTR: a dictionary of strings (resource and scope values): data/off hold one value per context
   run, idx the int32 run of each row. */
enum { C_I8, C_I32, C_U32, C_I64, C_U64, C_F64, C_BOOL, C_STR, C_LU64, C_LF64, C_DSTR };

typedef struct {
    const char *name;
    int type;
    int nullable;
    Buf data;  /* values (fixed width), bytes (string), or list children */
    Buf off;   /* int32 offsets (string, list) */
    Buf valid; /* one byte per row when nullable */
    Buf idx;   /* int32 dictionary index per row (C_DSTR) */
    size_t n, nulls;
    size_t dict_n; /* dictionary values so far (C_DSTR) */
} Col;

#define MAX_COLS 40

struct ArrowArray;

typedef struct {
    const char *name;
    Col cols[MAX_COLS];
    int ncols;
    int ctx_first; /* index of the first resource/scope column */
    /* Where the resource/scope columns go in the exported record batch, which has the columns in
       the table's schema order (spyglass/storage/_schema.py: after metric_metadata in the metric
       tables, after the table's own columns otherwise; context_run last). Exporting them there
       spares pyarrow a select per table, one more release and retake of the GIL each. */
    int ctx_at;
    uint32_t ctx_runs;  /* contexts added so far: the next context_run number */
    uint64_t ctx_key;   /* the current run's context_key (add_context) */
    size_t ctx_scope;   /* st->scopes when the last context was added (0: none yet) */
    size_t rows;
    struct ArrowArray *exported; /* the table as a record batch, once read (see export_table) */
    size_t nbytes;               /* the size of its buffers (what pyarrow's get_total_buffer_size says) */
} Table;

typedef struct {
    size_t off, len;
} Str; /* a piece of St.arena */

typedef struct {
    Str service, rattrs, rschema, sname, sversion, sattrs, sschema;
    uint32_t rdropped, sdropped;
} Ctx;

/* ---- series keys ----------------------------------------------------------------------------- */

/* xxHash64 (the published algorithm), chained through its seed: the metric tables' series_key
   (spyglass/storage/_schema.py) is the hash of a point's resource, scope, metric and attributes,
   so the Prometheus projection groups points without hashing those texts again. Byte order is the
   machine's: the keys are compared only within one process. */
#define XP1 0x9E3779B185EBCA87ULL
#define XP2 0xC2B2AE3D27D4EB4FULL
#define XP3 0x165667B19E3779F9ULL
#define XP4 0x85EBCA77C2B2AE63ULL
#define XP5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t xx_round(uint64_t acc, uint64_t lane) { return rotl64(acc + lane * XP2, 31) * XP1; }
static inline uint64_t xx_merge(uint64_t h, uint64_t v) { return (h ^ xx_round(0, v)) * XP1 + XP4; }
static inline uint64_t load64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t load32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static uint64_t xxh64(const void *data, size_t n, uint64_t seed) {
    const uint8_t *p = (const uint8_t *)data, *end = p + n;
    uint64_t h;
    if (n >= 32) {
        uint64_t v1 = seed + XP1 + XP2, v2 = seed + XP2, v3 = seed, v4 = seed - XP1;
        do {
            v1 = xx_round(v1, load64(p));
            v2 = xx_round(v2, load64(p + 8));
            v3 = xx_round(v3, load64(p + 16));
            v4 = xx_round(v4, load64(p + 24));
            p += 32;
        } while (end - p >= 32);
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xx_merge(xx_merge(xx_merge(xx_merge(h, v1), v2), v3), v4);
    } else {
        h = seed + XP5;
    }
    h += (uint64_t)n;
    for (; end - p >= 8; p += 8) h = rotl64(h ^ xx_round(0, load64(p)), 27) * XP1 + XP4;
    if (end - p >= 4) {
        h = rotl64(h ^ (uint64_t)load32(p) * XP1, 23) * XP2 + XP3;
        p += 4;
    }
    for (; p < end; p++) h = rotl64(h ^ (uint64_t)*p * XP5, 11) * XP1;
    h ^= h >> 33;
    h *= XP2;
    h ^= h >> 29;
    h *= XP3;
    return h ^ (h >> 32);
}

typedef struct {
    const uint8_t *name; /* span name (a view of the body), or NULL */
    size_t name_len;
    char problem[160];
    int kind; /* 0 span, 1 log record, 2 metric point, 3 the problem alone */
} Reject;

struct St {
    jmp_buf jb;
    int why; /* 1: hand over to Python, 2: out of memory */
    Buf arena;
    Buf rejects; /* Reject records */
    size_t rejected, accepted;
    size_t scopes; /* ScopeX messages read so far */
    Table tables[4];
    int ntables;
    int sig; /* 0 traces, 1 logs, 2 metrics: the row of size_hints */
    PyThreadState *released; /* the GIL is released while reading (NULL: held) */
    size_t exported_bytes;   /* bytes of the buffers handed over so far (take, pack) */
};

/* How many bytes each column buffer of the last request of a signal held (data, off, valid, idx),
   reserved up front for the next one: a buffer grown from 256 bytes by doubling takes ~10 reallocs
   for a 512-span request's attributes, each a malloc call and often a copy. Read and written with
   relaxed atomics, as decoding threads share them; a wrong guess costs only a realloc. */
#define HINT_MAX ((size_t)8 << 20)
static size_t size_hints[3][4][MAX_COLS][4];

static Buf *col_buf(Col *c, int k) { return k == 0 ? &c->data : k == 1 ? &c->off : k == 2 ? &c->valid : &c->idx; }

static void bail(St *st) {
    st->why = 1;
    longjmp(st->jb, 1);
}
static void nomem(St *st) {
    st->why = 2;
    longjmp(st->jb, 1);
}

static Col *table_col(Table *t, const char *name, int type, int nullable) {
    Col *c = &t->cols[t->ncols++];
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->type = type;
    c->nullable = nullable;
    return c;
}

static void col_start(St *st, Col *c) {
    if (c->type == C_STR || c->type == C_LU64 || c->type == C_LF64 || c->type == C_DSTR) {
        int32_t zero = 0;
        buf_put(st, &c->off, &zero, 4);
    }
}

static inline void col_valid(St *st, Col *c, int ok) {
    if (c->nullable) buf_ch(st, &c->valid, ok ? 1 : 0);
    if (!ok) c->nulls++;
    c->n++;
}

static inline void col_int(St *st, Col *c, int64_t v) {
    switch (c->type) {
    case C_I8: { int8_t x = (int8_t)v; buf_put(st, &c->data, &x, 1); break; }
    case C_I32: { int32_t x = (int32_t)v; buf_put(st, &c->data, &x, 4); break; }
    case C_U32: { uint32_t x = (uint32_t)v; buf_put(st, &c->data, &x, 4); break; }
    case C_BOOL: { buf_ch(st, &c->data, v ? 1 : 0); break; }
    default: { buf_put(st, &c->data, &v, 8); break; }
    }
    col_valid(st, c, 1);
}

static inline void col_f64(St *st, Col *c, double v) {
    buf_put(st, &c->data, &v, 8);
    col_valid(st, c, 1);
}

static inline void col_null(St *st, Col *c) {
    switch (c->type) {
    case C_I8: case C_BOOL: buf_ch(st, &c->data, 0); break;
    case C_I32: case C_U32: { uint32_t x = 0; buf_put(st, &c->data, &x, 4); break; }
    case C_STR: case C_LU64: case C_LF64: {
        int32_t end = (int32_t)(c->type == C_STR ? c->data.n : c->data.n / 8);
        buf_put(st, &c->off, &end, 4);
        break;
    }
    default: { uint64_t x = 0; buf_put(st, &c->data, &x, 8); break; }
    }
    col_valid(st, c, 0);
}

/* After writing a string's bytes (or list's children) into c->data: close the row. */
static inline void col_close(St *st, Col *c) {
    if (c->data.n > INT32_MAX) bail(st);
    int32_t end = (int32_t)(c->type == C_STR ? c->data.n : c->data.n / 8);
    buf_put(st, &c->off, &end, 4);
    col_valid(st, c, 1);
}

static inline void col_str(St *st, Col *c, const uint8_t *s, size_t n) {
    buf_put(st, &c->data, s, n);
    col_close(st, c);
}

/* ---- the wire format ------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *p, *end;
} Rd;

static inline uint64_t rd_varint(St *st, Rd *r) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) bail(st);
        uint8_t b = *r->p++;
        if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    bail(st); /* more than 10 bytes */
    return 0;
}

/* Next field: returns 0 at the end of the message. */
static inline int rd_tag(St *st, Rd *r, uint32_t *field, int *wt) {
    if (r->p >= r->end) return 0;
    uint64_t tag = r->p[0] < 0x80 ? (uint64_t)*r->p++ : rd_varint(st, r);
    if (tag > 0xffffffffu || (tag >> 3) == 0) bail(st);
    *field = (uint32_t)(tag >> 3);
    *wt = (int)(tag & 7);
    return 1;
}

static inline Rd rd_sub(St *st, Rd *r) {
    uint64_t n = rd_varint(st, r);
    if (n > (uint64_t)(r->end - r->p)) bail(st);
    Rd sub = {r->p, r->p + n};
    r->p += n;
    return sub;
}

static inline uint64_t rd_fixed64(St *st, Rd *r) {
    if (r->end - r->p < 8) bail(st);
    uint64_t v;
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}

static inline uint32_t rd_fixed32(St *st, Rd *r) {
    if (r->end - r->p < 4) bail(st);
    uint32_t v;
    memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}

static inline double rd_double(St *st, Rd *r) {
    uint64_t u = rd_fixed64(st, r);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Skip a field this decoder does not read (upb keeps it as an unknown field). */
static void rd_skip(St *st, Rd *r, int wt) {
    switch (wt) {
    case 0: rd_varint(st, r); break;
    case 1: rd_fixed64(st, r); break;
    case 2: rd_sub(st, r); break;
    case 5: rd_fixed32(st, r); break;
    default: bail(st); /* groups (3, 4) and invalid wire types */
    }
}

static void need(St *st, int wt, int expected) {
    if (wt != expected) bail(st); /* upb would keep it as an unknown field: let Python say */
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as upb checks strings. */
static void check_utf8(St *st, const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
        } else if (c >= 0xc2 && c <= 0xdf) {
            if (i + 1 >= n || (s[i + 1] & 0xc0) != 0x80) bail(st);
            i += 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            if (i + 2 >= n || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80) bail(st);
            if (c == 0xe0 && s[i + 1] < 0xa0) bail(st);
            if (c == 0xed && s[i + 1] > 0x9f) bail(st);
            i += 3;
        } else if (c >= 0xf0 && c <= 0xf4) {
            if (i + 3 >= n || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80 || (s[i + 3] & 0xc0) != 0x80)
                bail(st);
            if (c == 0xf0 && s[i + 1] < 0x90) bail(st);
            if (c == 0xf4 && s[i + 1] > 0x8f) bail(st);
            i += 4;
        } else {
            bail(st);
        }
    }
}

typedef struct {
    const uint8_t *p;
    size_t n;
} View;

static inline View rd_bytes(St *st, Rd *r) {
    Rd s = rd_sub(st, r);
    View v = {s.p, (size_t)(s.end - s.p)};
    return v;
}

static inline View rd_string(St *st, Rd *r) {
    View v = rd_bytes(st, r);
    check_utf8(st, v.p, v.n);
    return v;
}

/* ---- JSON text, as json.encoder.encode_basestring and the json module write it ------------- */

static const char HEX[] = "0123456789abcdef";

/* 1 for the bytes json.encoder.encode_basestring escapes (control characters, quote, backslash) */
static const uint8_t ESCAPED[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, ['\\'] = 1,
};

static void json_str(St *st, Buf *b, const uint8_t *s, size_t n) {
    buf_reserve(st, b, n + 2);
    b->p[b->n++] = '"';
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (__builtin_expect(!ESCAPED[c], 1)) continue;
        buf_put(st, b, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': PUTS(st, b, "\\\""); break;
        case '\\': PUTS(st, b, "\\\\"); break;
        case '\n': PUTS(st, b, "\\n"); break;
        case '\r': PUTS(st, b, "\\r"); break;
        case '\t': PUTS(st, b, "\\t"); break;
        case '\b': PUTS(st, b, "\\b"); break;
        case '\f': PUTS(st, b, "\\f"); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', HEX[c >> 4], HEX[c & 15]};
            buf_put(st, b, u, 6);
        }
        }
    }
    buf_put(st, b, s + start, n - start);
    buf_ch(st, b, '"');
}

static void json_u64(St *st, Buf *b, uint64_t v) {
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_put(st, b, p, (size_t)(e - p));
}

static void json_i64(St *st, Buf *b, int64_t v) {
    if (v < 0) {
        buf_ch(st, b, '-');
        json_u64(st, b, (uint64_t)0 - (uint64_t)v);
    } else {
        json_u64(st, b, (uint64_t)v);
    }
}

/* --- float.__repr__ without the GIL ---------------------------------------------------------
   PyOS_double_to_string needs the GIL (Python's allocator), and taking it back for every double
   attribute made a request wait once per value whenever another thread held it: up to Python's
   switch interval (5 ms) each with a busy event loop. Measured with a Python thread spinning
   beside the decoder: a benchmark span request (512 spans, a double attribute each) took 450 ms
   to decode.

   repr is the shortest decimal that reads back as the same double, the closest to it among those
   (ties to even), written as Python writes it. Doubles in [2^-17, 2^52), most measured values, get
   it in 128-bit integers (exact_digits: 150 ns with the call from Python, repr 450 ns). Others go
   through C's printf and strtod, which round correctly: the
   correctly rounded 15-, 16- then 17-digit decimals are tried in turn. A double never needs more
   than 17 digits, and when one of 15 or fewer does, the 15-digit one is it padded with zeros
   (subnormals excepted: they have fewer significant bits, and every length is tried). Next
   to a power of two the interval that reads back is narrower below the double than above it, so
   the closest p-digit decimal can fail where the one above it reads back; that one is tried too.
   tests/collector/test_wire_differential.py compares this with repr over millions of doubles. */

/* Drops the trailing zeros of the n digits (keeping one), ends them with a NUL; the new count. */
static int strip_zeros(char *digits, int n) {
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = 0;
    return n;
}

/* digits (no point) and decpt for a printf "%.*e" text of a positive double: value = 0.digits x
   10^decpt. Returns the number of digits, trailing zeros removed (at least one kept). */
static int e_digits(const char *e_text, char *digits, int *decpt) {
    int n = 0;
    const char *p = e_text;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[n++] = *p;
    *decpt = (*p == 'e' ? atoi(p + 1) : 0) + 1;
    return strip_zeros(digits, n);
}

/* Does 0.digits x 10^decpt read back as d? */
static int reads_back(const char *digits, int decpt, double d) {
    char text[48], *o = text;
    *o++ = '0';
    *o++ = '.';
    size_t n = strlen(digits);
    memcpy(o, digits, n);
    o += n;
    *o++ = 'e';
    if (decpt < 0) *o++ = '-';
    unsigned e = (unsigned)abs(decpt);
    if (e >= 100) *o++ = (char)('0' + e / 100);
    if (e >= 10) *o++ = (char)('0' + e / 10 % 10);
    *o++ = (char)('0' + e % 10);
    *o = 0;
    return strtod(text, NULL) == d;
}

/* The p-digit decimal one unit of its last digit above the correctly rounded one (digits of
   length n, p >= n; the missing digits are zeros). */
static int next_up(char *digits, int n, int p, int *decpt) {
    for (; n < p; n++) digits[n] = '0';
    digits[n] = 0;
    int i = n - 1;
    while (i >= 0 && digits[i] == '9') digits[i--] = '0';
    if (i < 0) { /* 99..9 + 1 = 100..0: one more digit before the point */
        memmove(digits + 1, digits, (size_t)n + 1);
        digits[0] = '1';
        (*decpt)++;
        n++;
    } else {
        digits[i]++;
    }
    return strip_zeros(digits, n);
}

/* Is there a p-digit decimal that reads back as d? The correctly rounded one (digits, decpt) is
   tried first, then the one above it. On success digits and decpt hold the answer. */
static int try_digits(double d, char *digits, int *n, int *decpt, int p) {
    if (reads_back(digits, *decpt, d)) return 1;
    int exponent;
    if (frexp(d, &exponent) != 0.5) return 0; /* not a power of two: no decimal is closer */
    char up[24];
    int up_decpt = *decpt;
    memcpy(up, digits, (size_t)*n + 1);
    int m = next_up(up, *n, p, &up_decpt);
    if (!reads_back(up, up_decpt, d)) return 0;
    memcpy(digits, up, (size_t)m + 1);
    *n = m;
    *decpt = up_decpt;
    return 1;
}

/* The correctly rounded p-digit decimal of d (p < 17), from its 17 correctly rounded digits d17
   (exactly 17 characters) when they tell which way to round, else from printf. */
static int rounded_digits(double d, const char *d17, int decpt17, int p, char *digits, int *decpt) {
    int half = 1, above = 0; /* is the tail d17[p..16] exactly 5000.., or above it? */
    if (d17[p] != '5') half = 0, above = d17[p] > '5';
    for (int i = p + 1; i < 17 && half; i++)
        if (d17[i] != '0') half = 0, above = 1;
    if (half) { /* the 17 digits were rounded to the half: only printf knows the true side */
        char text[48];
        snprintf(text, sizeof text, "%.*e", p - 1, d);
        return e_digits(text, digits, decpt);
    }
    int n = p;
    memcpy(digits, d17, (size_t)p);
    digits[n] = 0;
    *decpt = decpt17;
    if (above) return next_up(digits, n, p, decpt);
    return strip_zeros(digits, n);
}

/* The shortest digits of d exactly, in integers, for normal doubles in [2^-17, 2^52) (most
   measured values): d = m / 2^s, and d x 10^k = m x 10^k / 2^s has 17 digits before the point.
   The doubles that read back as d lie in d's rounding interval (half an ulp each side; a quarter
   below a power of two; the ends included when m is even). The shortest p-digit decimal in it, the
   closest to d of those, ties to even, is what repr writes. Returns 0 when d is out of range. */
static int exact_digits(double d, char *digits, int *decpt) {
#ifndef __SIZEOF_INT128__
    (void)d, (void)digits, (void)decpt;
    return 0; /* no 128-bit integers here: printf and strtod do it all */
#else
    int e2;
    double frac = frexp(d, &e2); /* d = frac x 2^e2, frac in [0.5, 1) */
    int s = 53 - e2;              /* d = m / 2^s with m = frac x 2^53 */
    if (s < 1 || s > 69) return 0;
    typedef unsigned __int128 u128;
    static const u128 p10[23] = {
        1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
        1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
        100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
        1000000000000000000ULL, 10000000000000000000ULL, (u128)10000000000000000000ULL * 10,
        (u128)10000000000000000000ULL * 100, (u128)10000000000000000000ULL * 1000,
    };
    uint64_t m = (uint64_t)ldexp(frac, 53);
    int k = 16 - (int)floor(log10(d));
    uint64_t q17 = 0;
    for (int tries = 0; tries < 3; tries++) {
        if (k < 0 || k > 21) return 0;
        q17 = (uint64_t)(((u128)m * p10[k]) >> s);
        if (q17 >= (uint64_t)p10[17]) k--;
        else if (q17 < (uint64_t)p10[16]) k++;
        else break;
    }
    if (q17 < (uint64_t)p10[16] || q17 >= (uint64_t)p10[17]) return 0;
    /* everything x 4, so that a quarter ulp is a whole number */
    u128 n4 = ((u128)m * p10[k]) << 2;
    u128 half = p10[k] << 1; /* half an ulp of d, x 10^k x 4 */
    u128 lo = n4 - ((m == (uint64_t)1 << 52) ? half / 2 : half), hi = n4 + half;
    int closed = (m & 1) == 0;
    for (int p = 15; p <= 17; p++) {
        uint64_t unit = (uint64_t)p10[17 - p];
        uint64_t c = q17 / unit, best = 0;
        int found = 0;
        u128 best_gap = 0;
        for (int up = 0; up < 2; up++, c++) {
            u128 v = ((u128)c * unit << 2) << s;
            int inside = closed ? (v >= lo && v <= hi) : (v > lo && v < hi);
            if (!inside) continue;
            u128 gap = v > n4 ? v - n4 : n4 - v;
            if (!found || gap < best_gap || (gap == best_gap && (c & 1) == 0)) best = c, best_gap = gap, found = 1;
        }
        if (!found) continue;
        char tmp[24];
        int n = 0;
        do {
            tmp[n++] = (char)('0' + best % 10);
            best /= 10;
        } while (best);
        for (int i = 0; i < n; i++) digits[i] = tmp[n - 1 - i];
        *decpt = n + (17 - p) - k;
        return strip_zeros(digits, n);
    }
    return 0;
#endif
}

/* The shortest digits of positive finite d. */
static int shortest_digits(double d, char *digits, int *decpt) {
    char text[48];
    if (d < DBL_MIN) { /* subnormal: fewer significant bits, any length from 1 may do */
        for (int p = 1; p < 17; p++) {
            snprintf(text, sizeof text, "%.*e", p - 1, d);
            int n = e_digits(text, digits, decpt);
            if (try_digits(d, digits, &n, decpt, p)) return n;
        }
    } else {
        int n = exact_digits(d, digits, decpt);
        if (n) return n;
        char d17[24];
        int decpt17;
        snprintf(text, sizeof text, "%.16e", d);
        int n17 = e_digits(text, d17, &decpt17);
        memset(d17 + n17, '0', (size_t)(17 - n17)); /* back to 17 digits */
        d17[17] = 0;
        for (int p = 15; p < 17; p++) {
            int n = rounded_digits(d, d17, decpt17, p, digits, decpt);
            if (try_digits(d, digits, &n, decpt, p)) return n;
        }
    }
    snprintf(text, sizeof text, "%.16e", d);
    return e_digits(text, digits, decpt);
}

/* repr(d) for finite d into out (at least 32 bytes); returns its length. */
static size_t double_repr(double d, char *out) {
    char *o = out;
    if (signbit(d)) {
        *o++ = '-';
        d = -d;
    }
    if (d == 0) {
        memcpy(o, "0.0", 3);
        return (size_t)(o + 3 - out);
    }
    char digits[24];
    int decpt;
    int n = shortest_digits(d, digits, &decpt);
    if (decpt <= -4 || decpt > 16) { /* 1e-05, 1.5e+16 */
        *o++ = digits[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)n - 1);
            o += n - 1;
        }
        o += sprintf(o, "e%c%02d", decpt - 1 < 0 ? '-' : '+', abs(decpt - 1));
    } else if (decpt <= 0) { /* 0.00125 */
        *o++ = '0';
        *o++ = '.';
        memset(o, '0', (size_t)-decpt);
        o += -decpt;
        memcpy(o, digits, (size_t)n);
        o += n;
    } else if (decpt >= n) { /* 1200.0 */
        memcpy(o, digits, (size_t)n);
        o += n;
        memset(o, '0', (size_t)(decpt - n));
        o += decpt - n;
        memcpy(o, ".0", 2);
        o += 2;
    } else { /* 12.5 */
        memcpy(o, digits, (size_t)decpt);
        o += decpt;
        *o++ = '.';
        memcpy(o, digits + decpt, (size_t)(n - decpt));
        o += n - decpt;
    }
    return (size_t)(o - out);
}

/* A double as json.dumps writes it: float.__repr__, or the {"double": ...} marker (see _schema). */
static void json_double(St *st, Buf *b, double d) {
    if (d != d) {
        PUTS(st, b, "{\"double\":\"NaN\"}");
        return;
    }
    if (d == HUGE_VAL) {
        PUTS(st, b, "{\"double\":\"Infinity\"}");
        return;
    }
    if (d == -HUGE_VAL) {
        PUTS(st, b, "{\"double\":\"-Infinity\"}");
        return;
    }
    char text[32];
    buf_put(st, b, text, double_repr(d, text));
}

static void json_hex(St *st, Buf *b, View v) {
    buf_reserve(st, b, v.n * 2 + 2);
    b->p[b->n++] = '"';
    for (size_t i = 0; i < v.n; i++) {
        b->p[b->n++] = HEX[v.p[i] >> 4];
        b->p[b->n++] = HEX[v.p[i] & 15];
    }
    b->p[b->n++] = '"';
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void json_base64(St *st, Buf *b, View v) {
    buf_reserve(st, b, (v.n + 2) / 3 * 4 + 2);
    char *o = b->p + b->n;
    *o++ = '"';
    size_t i = 0;
    for (; i + 3 <= v.n; i += 3) {
        uint32_t x = (uint32_t)v.p[i] << 16 | (uint32_t)v.p[i + 1] << 8 | v.p[i + 2];
        *o++ = B64[x >> 18];
        *o++ = B64[(x >> 12) & 63];
        *o++ = B64[(x >> 6) & 63];
        *o++ = B64[x & 63];
    }
    if (v.n - i == 1) {
        uint32_t x = (uint32_t)v.p[i] << 16;
        *o++ = B64[x >> 18];
        *o++ = B64[(x >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (v.n - i == 2) {
        uint32_t x = (uint32_t)v.p[i] << 16 | (uint32_t)v.p[i + 1] << 8;
        *o++ = B64[x >> 18];
        *o++ = B64[(x >> 12) & 63];
        *o++ = B64[(x >> 6) & 63];
        *o++ = '=';
    }
    *o++ = '"';
    b->n = (size_t)(o - b->p);
}

/* ---- attribute values ----------------------------------------------------------------------- */

#define MAX_DEPTH 24

static void json_kvs(St *st, Buf *b, Rd msg, uint32_t field, int as_dict, int depth, View *service);

/* _encode_json(_value(v)) of one AnyValue message. Returns the oneof field number (0 if unset). */
static int json_anyvalue(St *st, Buf *b, Rd r, int depth) {
    if (depth > MAX_DEPTH) bail(st);
    uint32_t f, kind = 0;
    int wt;
    Rd val = {0, 0};
    uint64_t scalar = 0;
    while (rd_tag(st, &r, &f, &wt)) {
        if (f >= 1 && f <= 8) {
            if (kind) bail(st); /* several value fields: the last wins, or sub-messages merge */
            kind = f;
            switch (f) {
            case 1: case 5: case 6: case 7: need(st, wt, 2); val = rd_sub(st, &r); break;
            case 2: case 3: need(st, wt, 0); scalar = rd_varint(st, &r); break;
            case 4: need(st, wt, 1); scalar = rd_fixed64(st, &r); break;
            default: bail(st); /* string_value_strindex */
            }
        } else {
            rd_skip(st, &r, wt);
        }
    }
    switch (kind) {
    case 0: PUTS(st, b, "null"); break;
    case 1: check_utf8(st, val.p, (size_t)(val.end - val.p)); json_str(st, b, val.p, (size_t)(val.end - val.p)); break;
    case 2: if (scalar) PUTS(st, b, "true"); else PUTS(st, b, "false"); break;
    case 3: json_i64(st, b, (int64_t)scalar); break;
    case 4: { double d; memcpy(&d, &scalar, 8); json_double(st, b, d); break; }
    case 5: {
        buf_ch(st, b, '[');
        int first = 1;
        while (rd_tag(st, &val, &f, &wt)) {
            if (f == 1) {
                need(st, wt, 2);
                if (!first) buf_ch(st, b, ',');
                first = 0;
                json_anyvalue(st, b, rd_sub(st, &val), depth + 1);
            } else {
                rd_skip(st, &val, wt);
            }
        }
        buf_ch(st, b, ']');
        break;
    }
    case 6: PUTS(st, b, "{\"kvlist\":"); json_kvs(st, b, val, 1, 1, depth + 1, NULL); buf_ch(st, b, '}'); break;
    case 7: { View v = {val.p, (size_t)(val.end - val.p)}; PUTS(st, b, "{\"bytes\":"); json_base64(st, b, v); buf_ch(st, b, '}'); break; }
    }
    return (int)kind;
}

static const uint8_t SERVICE_NAME[] = "service.name";

/* One KeyValue: its key and value (a missing value is an unset AnyValue). */
static int read_kv(St *st, Rd kv, View *key, Rd *value) {
    uint32_t g;
    int wt;
    int has_value = 0;
    key->p = (const uint8_t *)"";
    key->n = 0;
    while (rd_tag(st, &kv, &g, &wt)) {
        if (g == 1) {
            need(st, wt, 2);
            *key = rd_string(st, &kv);
        } else if (g == 2) {
            need(st, wt, 2);
            if (has_value) bail(st); /* upb merges a repeated singular message */
            *value = rd_sub(st, &kv);
            has_value = 1;
        } else {
            rd_skip(st, &kv, wt);
        }
    }
    return has_value;
}

/* ``"key":value`` of one KeyValue; returns the value's oneof field number. */
static int json_kv(St *st, Buf *b, View key, int has_value, Rd value, int depth) {
    json_str(st, b, key.p, key.n);
    buf_ch(st, b, ':');
    if (has_value) return json_anyvalue(st, b, value, depth);
    PUTS(st, b, "null");
    return 0;
}

#define MAX_DICT_KEYS 64

/* The JSON object of the KeyValue entries in field ``field`` of ``msg``: _attrs_json (duplicate keys
 * kept) or, with as_dict, _encode_json(_attrs(...)) (a dict: duplicates hand over to Python).
 * With ``service``, also the last string value of "service.name" (the _Context rule). */
static void json_kvs(St *st, Buf *b, Rd msg, uint32_t field, int as_dict, int depth, View *service) {
    if (depth > MAX_DEPTH) bail(st);
    uint32_t f;
    int wt;
    int count = 0;
    View keys[MAX_DICT_KEYS];
    buf_ch(st, b, '{');
    while (rd_tag(st, &msg, &f, &wt)) {
        if (f != field) {
            rd_skip(st, &msg, wt);
            continue;
        }
        need(st, wt, 2);
        View key;
        Rd value = {0, 0};
        int has_value = read_kv(st, rd_sub(st, &msg), &key, &value);
        if (as_dict) {
            if (count >= MAX_DICT_KEYS) bail(st);
            for (int i = 0; i < count; i++)
                if (keys[i].n == key.n && memcmp(keys[i].p, key.p, key.n) == 0) bail(st);
            keys[count] = key;
        }
        if (count++) buf_ch(st, b, ',');
        int kind = json_kv(st, b, key, has_value, value, depth + 1);
        if (service && kind == 1 && key.n == sizeof(SERVICE_NAME) - 1 && memcmp(key.p, SERVICE_NAME, key.n) == 0) {
            Rd v = value;
            uint32_t g;
            int wt2;
            while (rd_tag(st, &v, &g, &wt2)) {
                if (g == 1) *service = rd_bytes(st, &v);
                else rd_skip(st, &v, wt2);
            }
        }
    }
    buf_ch(st, b, '}');
}

/* ---- resource and scope ---------------------------------------------------------------------- */

static Str arena_put(St *st, const uint8_t *s, size_t n) {
    Str r = {st->arena.n, n};
    buf_put(st, &st->arena, s, n);
    return r;
}

/* Fields of ResourceX (resource 1, schema_url 3) into ctx; the repeated ScopeX field is read later. */
static void read_resource(St *st, Rd rx, Ctx *ctx) {
    uint32_t f;
    int wt;
    Rd res = {0, 0};
    int has_res = 0;
    View schema = {(const uint8_t *)"", 0};
    while (rd_tag(st, &rx, &f, &wt)) {
        if (f == 1) {
            need(st, wt, 2);
            if (has_res) bail(st);
            res = rd_sub(st, &rx);
            has_res = 1;
        } else if (f == 3) {
            need(st, wt, 2);
            schema = rd_string(st, &rx);
        } else {
            rd_skip(st, &rx, wt);
        }
    }
    memset(ctx, 0, sizeof(*ctx));
    View service = {(const uint8_t *)"unknown_service", 15};
    uint32_t dropped = 0;
    size_t start = st->arena.n;
    json_kvs(st, &st->arena, res, 1, 0, 0, &service);
    ctx->rattrs.off = start;
    ctx->rattrs.len = st->arena.n - start;
    while (rd_tag(st, &res, &f, &wt)) {
        if (f == 1) {
            rd_skip(st, &res, wt); /* read above */
        } else if (f == 2) {
            need(st, wt, 0);
            dropped = (uint32_t)rd_varint(st, &res);
        } else if (f == 3) {
            bail(st); /* entity_refs: rare, left to Python */
        } else {
            rd_skip(st, &res, wt);
        }
    }
    ctx->service = arena_put(st, service.p, service.n);
    ctx->rdropped = dropped;
    ctx->rschema = arena_put(st, schema.p, schema.n);
}

/* Fields of ScopeX (scope 1, schema_url 3) into ctx. */
static void read_scope(St *st, Rd sx, Ctx *ctx) {
    uint32_t f;
    int wt;
    st->scopes++;
    Rd scope = {0, 0};
    int has_scope = 0;
    View schema = {(const uint8_t *)"", 0}, name = {(const uint8_t *)"", 0}, version = {(const uint8_t *)"", 0};
    while (rd_tag(st, &sx, &f, &wt)) {
        if (f == 1) {
            need(st, wt, 2);
            if (has_scope) bail(st);
            scope = rd_sub(st, &sx);
            has_scope = 1;
        } else if (f == 3) {
            need(st, wt, 2);
            schema = rd_string(st, &sx);
        } else {
            rd_skip(st, &sx, wt);
        }
    }
    uint32_t dropped = 0;
    size_t start = st->arena.n;
    json_kvs(st, &st->arena, scope, 3, 0, 0, NULL);
    ctx->sattrs.off = start;
    ctx->sattrs.len = st->arena.n - start;
    while (rd_tag(st, &scope, &f, &wt)) {
        if (f == 1) {
            need(st, wt, 2);
            name = rd_string(st, &scope);
        } else if (f == 2) {
            need(st, wt, 2);
            version = rd_string(st, &scope);
        } else if (f == 4) {
            need(st, wt, 0);
            dropped = (uint32_t)rd_varint(st, &scope);
        } else {
            rd_skip(st, &scope, wt);
        }
    }
    ctx->sname = arena_put(st, name.p, name.n);
    ctx->sversion = arena_put(st, version.p, version.n);
    ctx->sdropped = dropped;
    ctx->sschema = arena_put(st, schema.p, schema.n);
}

/* The resource and scope columns (_CONTEXT_COLUMNS), after a table's own columns. */
static int context_cols(St *st, Table *t) {
    int first = t->ncols;
    table_col(t, "service_name", C_STR, 0);
    table_col(t, "resource_attributes", C_DSTR, 0);
    table_col(t, "resource_dropped_attributes_count", C_U32, 0);
    table_col(t, "resource_schema_url", C_DSTR, 0);
    table_col(t, "resource_entity_refs", C_DSTR, 0);
    table_col(t, "scope_name", C_DSTR, 0);
    table_col(t, "scope_version", C_DSTR, 0);
    table_col(t, "scope_attributes", C_DSTR, 0);
    table_col(t, "scope_dropped_attributes_count", C_U32, 0);
    table_col(t, "scope_schema_url", C_DSTR, 0);
    table_col(t, "context_run", C_U32, 0);
    table_col(t, "context_key", C_U64, 0);
    return first;
}

static void repeat_str(St *st, Col *c, Str s, size_t n) {
    buf_reserve(st, &c->data, s.len * n);
    for (size_t i = 0; i < n; i++) col_str(st, c, (const uint8_t *)st->arena.p + s.off, s.len);
}

/* A new value of a dictionary column (the current context run's). */
static void dict_add(St *st, Col *c, const void *p, size_t len) {
    buf_put(st, &c->data, p, len);
    if (c->data.n > INT32_MAX) bail(st);
    int32_t end = (int32_t)c->data.n;
    buf_put(st, &c->off, &end, 4);
    c->dict_n++;
}

/* ``n`` rows of a dictionary column, all of the last value added. */
static void dict_rows(St *st, Col *c, size_t n) {
    int32_t k = (int32_t)c->dict_n - 1;
    buf_reserve(st, &c->idx, 4 * n);
    for (size_t i = 0; i < n; i++) memcpy(c->idx.p + c->idx.n + 4 * i, &k, 4);
    c->idx.n += 4 * n;
    c->n += n;
}

/* Resource and scope values for the ``n`` rows a ScopeX added to ``t``: each distinct run's
   strings once, in dictionaries, and the run's number per row. */
static void add_context(St *st, Table *t, const Ctx *ctx, size_t n) {
    if (!n) return;
    Col *c = &t->cols[t->ctx_first];
    if (t->ctx_scope != st->scopes) { /* a new ScopeX: a new run (metrics of one scope share it) */
        t->ctx_scope = st->scopes;
        t->ctx_runs++;
#define DICT_ADD(col, s) dict_add(st, col, st->arena.p + (s).off, (s).len)
        DICT_ADD(&c[1], ctx->rattrs);
        DICT_ADD(&c[3], ctx->rschema);
        dict_add(st, &c[4], "[]", 2);
        DICT_ADD(&c[5], ctx->sname);
        DICT_ADD(&c[6], ctx->sversion);
        DICT_ADD(&c[7], ctx->sattrs);
        DICT_ADD(&c[9], ctx->sschema);
#undef DICT_ADD
        /* context_key (spyglass/storage/_schema.py): xxHash64 of the run's stored context values,
           in CONTEXT_COLUMNS order, so the writer finds a run's context without reading them. */
        uint64_t h = xxh64(st->arena.p + ctx->rattrs.off, ctx->rattrs.len, 0);
        h = xxh64(&ctx->rdropped, sizeof ctx->rdropped, h);
        h = xxh64(st->arena.p + ctx->rschema.off, ctx->rschema.len, h);
        h = xxh64("[]", 2, h);
        h = xxh64(st->arena.p + ctx->sname.off, ctx->sname.len, h);
        h = xxh64(st->arena.p + ctx->sversion.off, ctx->sversion.len, h);
        h = xxh64(st->arena.p + ctx->sattrs.off, ctx->sattrs.len, h);
        h = xxh64(&ctx->sdropped, sizeof ctx->sdropped, h);
        t->ctx_key = xxh64(st->arena.p + ctx->sschema.off, ctx->sschema.len, h);
    }
    repeat_str(st, &c[0], ctx->service, n);
    for (size_t i = 0; i < n; i++) col_int(st, &c[2], ctx->rdropped);
    for (size_t i = 0; i < n; i++) col_int(st, &c[8], ctx->sdropped);
    for (size_t i = 0; i < n; i++) col_int(st, &c[10], t->ctx_runs - 1);
    for (size_t i = 0; i < n; i++) col_int(st, &c[11], (int64_t)t->ctx_key);
    for (int j = 1; j <= 9; j++)
        if (c[j].type == C_DSTR) dict_rows(st, &c[j], n);
}

/* ``count`` items rejected for one reason (0 for a metric without name or points: a reason alone). */
static void reject(St *st, int kind, View name, const char *problem, size_t count) {
    Reject r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.name = name.p;
    r.name_len = name.n;
    snprintf(r.problem, sizeof r.problem, "%s", problem);
    buf_put(st, &st->rejects, &r, sizeof r);
    st->rejected += count;
}

#define MAX_NS 0x7fffffffffffffffULL

/* _check_id: the problem (written into out) or NULL. */
static const char *check_id(View id, size_t size, const char *what, int required, char *out, size_t outlen) {
    if (id.n == size) {
        if (required) {
            for (size_t i = 0; i < size; i++)
                if (id.p[i]) return NULL;
            snprintf(out, outlen, "%s must not be all zeros", what);
            return out;
        }
        return NULL;
    }
    if (!id.n && !required) return NULL;
    snprintf(out, outlen, "%s must be %zu bytes (got %zu)", what, size, id.n);
    return out;
}

/* ---- traces ---------------------------------------------------------------------------------- */

enum {
    S_TRACE_ID, S_SPAN_ID, S_PARENT, S_TRACE_STATE, S_FLAGS, S_NAME, S_KIND, S_START, S_END, S_DURATION,
    S_STATUS_CODE, S_STATUS_MESSAGE, S_ATTRS, S_DROPPED_ATTRS, S_EVENTS, S_DROPPED_EVENTS, S_LINKS,
    S_DROPPED_LINKS, S_NCOLS
};

static void span_tables(St *st) {
    Table *t = &st->tables[st->ntables++];
    t->name = "spans";
    table_col(t, "trace_id", C_STR, 0);
    table_col(t, "span_id", C_STR, 0);
    table_col(t, "parent_span_id", C_STR, 1);
    table_col(t, "trace_state", C_STR, 0);
    table_col(t, "flags", C_U32, 0);
    table_col(t, "name", C_STR, 0);
    table_col(t, "kind", C_I8, 0);
    table_col(t, "start_time_ns", C_I64, 0);
    table_col(t, "end_time_ns", C_I64, 0);
    table_col(t, "duration_ns", C_I64, 0);
    table_col(t, "status_code", C_I8, 0);
    table_col(t, "status_message", C_STR, 0);
    table_col(t, "attributes", C_STR, 0);
    table_col(t, "dropped_attributes_count", C_U32, 0);
    table_col(t, "events", C_STR, 0);
    table_col(t, "dropped_events_count", C_U32, 0);
    table_col(t, "links", C_STR, 0);
    table_col(t, "dropped_links_count", C_U32, 0);
    t->ctx_first = t->ctx_at = context_cols(st, t);
    for (int i = 0; i < t->ncols; i++) col_start(st, &t->cols[i]);
}

/* One Span.Event as _events_json writes it. */
static void json_event(St *st, Buf *b, Rd ev) {
    uint32_t f;
    int wt;
    uint64_t time = 0;
    uint32_t dropped = 0;
    View name = {(const uint8_t *)"", 0};
    Rd all = ev;
    while (rd_tag(st, &ev, &f, &wt)) {
        if (f == 1) { need(st, wt, 1); time = rd_fixed64(st, &ev); }
        else if (f == 2) { need(st, wt, 2); name = rd_string(st, &ev); }
        else if (f == 4) { need(st, wt, 0); dropped = (uint32_t)rd_varint(st, &ev); }
        else rd_skip(st, &ev, wt);
    }
    PUTS(st, b, "{\"time_unix_nano\":");
    json_u64(st, b, time);
    PUTS(st, b, ",\"name\":");
    json_str(st, b, name.p, name.n);
    PUTS(st, b, ",\"attributes\":");
    json_kvs(st, b, all, 3, 0, 0, NULL);
    PUTS(st, b, ",\"dropped_attributes_count\":");
    json_u64(st, b, dropped);
    buf_ch(st, b, '}');
}

/* One Span.Link as the dict in _decode_traces is encoded (attributes as a dict). */
static void json_link(St *st, Buf *b, Rd ln) {
    uint32_t f;
    int wt;
    uint32_t dropped = 0, flags = 0;
    View tid = {(const uint8_t *)"", 0}, sid = tid, state = tid;
    Rd all = ln;
    while (rd_tag(st, &ln, &f, &wt)) {
        if (f == 1) { need(st, wt, 2); tid = rd_bytes(st, &ln); }
        else if (f == 2) { need(st, wt, 2); sid = rd_bytes(st, &ln); }
        else if (f == 3) { need(st, wt, 2); state = rd_string(st, &ln); }
        else if (f == 5) { need(st, wt, 0); dropped = (uint32_t)rd_varint(st, &ln); }
        else if (f == 6) { need(st, wt, 5); flags = rd_fixed32(st, &ln); }
        else rd_skip(st, &ln, wt);
    }
    PUTS(st, b, "{\"trace_id\":");
    json_hex(st, b, tid);
    PUTS(st, b, ",\"span_id\":");
    json_hex(st, b, sid);
    PUTS(st, b, ",\"trace_state\":");
    json_str(st, b, state.p, state.n);
    PUTS(st, b, ",\"attributes\":");
    json_kvs(st, b, all, 4, 1, 0, NULL);
    PUTS(st, b, ",\"dropped_attributes_count\":");
    json_u64(st, b, dropped);
    PUTS(st, b, ",\"flags\":");
    json_u64(st, b, flags);
    buf_ch(st, b, '}');
}

static void read_span(St *st, Table *t, Rd span, size_t *n, const Ctx *ctx) {
    Col *c = t->cols;
    uint32_t f;
    int wt;
    View empty = {(const uint8_t *)"", 0};
    View tid = empty, sid = empty, pid = empty, state = empty, name = empty, smsg = empty;
    uint32_t flags = 0, dattrs = 0, devents = 0, dlinks = 0;
    int32_t kind = 0, scode = 0;
    uint64_t start = 0, end = 0;
    int has_status = 0, nattrs = 0, nevents = 0, nlinks = 0;
    /* attributes, events and links are written straight into their columns and rolled back
     * if the span is rejected (it is still read to the end, since upb reads every field) */
    Buf *ab = &c[S_ATTRS].data, *eb = &c[S_EVENTS].data, *lb = &c[S_LINKS].data;
    size_t a0 = ab->n, e0 = eb->n, l0 = lb->n;
    buf_ch(st, ab, '{');
    buf_ch(st, eb, '[');
    buf_ch(st, lb, '[');
    while (rd_tag(st, &span, &f, &wt)) {
        switch (f) {
        case 1: need(st, wt, 2); tid = rd_bytes(st, &span); break;
        case 2: need(st, wt, 2); sid = rd_bytes(st, &span); break;
        case 3: need(st, wt, 2); state = rd_string(st, &span); break;
        case 4: need(st, wt, 2); pid = rd_bytes(st, &span); break;
        case 5: need(st, wt, 2); name = rd_string(st, &span); break;
        case 6: need(st, wt, 0); kind = (int32_t)rd_varint(st, &span); break;
        case 7: need(st, wt, 1); start = rd_fixed64(st, &span); break;
        case 8: need(st, wt, 1); end = rd_fixed64(st, &span); break;
        case 9: {
            need(st, wt, 2);
            View key;
            Rd value = {0, 0};
            int has_value = read_kv(st, rd_sub(st, &span), &key, &value);
            if (nattrs++) buf_ch(st, ab, ',');
            json_kv(st, ab, key, has_value, value, 1);
            break;
        }
        case 10: need(st, wt, 0); dattrs = (uint32_t)rd_varint(st, &span); break;
        case 11: need(st, wt, 2); if (nevents++) buf_ch(st, eb, ','); json_event(st, eb, rd_sub(st, &span)); break;
        case 12: need(st, wt, 0); devents = (uint32_t)rd_varint(st, &span); break;
        case 13: need(st, wt, 2); if (nlinks++) buf_ch(st, lb, ','); json_link(st, lb, rd_sub(st, &span)); break;
        case 14: need(st, wt, 0); dlinks = (uint32_t)rd_varint(st, &span); break;
        case 15: {
            need(st, wt, 2);
            if (has_status) bail(st);
            has_status = 1;
            Rd s = rd_sub(st, &span);
            uint32_t g;
            int wt2;
            while (rd_tag(st, &s, &g, &wt2)) {
                if (g == 2) { need(st, wt2, 2); smsg = rd_string(st, &s); }
                else if (g == 3) { need(st, wt2, 0); scode = (int32_t)rd_varint(st, &s); }
                else rd_skip(st, &s, wt2);
            }
            break;
        }
        case 16: need(st, wt, 5); flags = rd_fixed32(st, &span); break;
        default: rd_skip(st, &span, wt);
        }
    }
    char tmp[96];
    const char *problem = check_id(tid, 16, "trace_id", 1, tmp, sizeof tmp);
    if (!problem) problem = check_id(sid, 8, "span_id", 1, tmp, sizeof tmp);
    if (!problem) problem = check_id(pid, 8, "parent_span_id", 0, tmp, sizeof tmp);
    if (!problem && (start > MAX_NS || end > MAX_NS)) problem = "timestamps after the year 2262 are not supported";
    if (!problem && !(kind >= 0 && kind <= 5 && scode >= 0 && scode <= 2)) {
        snprintf(tmp, sizeof tmp, "unknown span kind %d or status code %d", kind, scode);
        problem = tmp;
    }
    if (problem) {
        ab->n = a0;
        eb->n = e0;
        lb->n = l0;
        reject(st, 0, name, problem, 1);
        return;
    }
    buf_ch(st, ab, '}');
    buf_ch(st, eb, ']');
    buf_ch(st, lb, ']');
    (*n)++;
    col_str(st, &c[S_TRACE_ID], tid.p, tid.n);
    col_str(st, &c[S_SPAN_ID], sid.p, sid.n);
    if (pid.n) col_str(st, &c[S_PARENT], pid.p, pid.n);
    else col_null(st, &c[S_PARENT]);
    col_str(st, &c[S_TRACE_STATE], state.p, state.n);
    col_int(st, &c[S_FLAGS], flags);
    col_str(st, &c[S_NAME], name.p, name.n);
    col_int(st, &c[S_KIND], kind);
    col_int(st, &c[S_START], (int64_t)start);
    col_int(st, &c[S_END], (int64_t)end);
    col_int(st, &c[S_DURATION], (int64_t)end - (int64_t)start);
    col_int(st, &c[S_STATUS_CODE], scode);
    col_str(st, &c[S_STATUS_MESSAGE], smsg.p, smsg.n);
    col_close(st, &c[S_ATTRS]);
    col_int(st, &c[S_DROPPED_ATTRS], dattrs);
    col_close(st, &c[S_EVENTS]);
    col_int(st, &c[S_DROPPED_EVENTS], devents);
    col_close(st, &c[S_LINKS]);
    col_int(st, &c[S_DROPPED_LINKS], dlinks);
}

/* ---- logs ------------------------------------------------------------------------------------ */

enum {
    L_TIME, L_OBSERVED, L_SEVERITY, L_SEVERITY_TEXT, L_BODY, L_BODY_TYPE, L_ATTRS, L_DROPPED, L_FLAGS,
    L_TRACE_ID, L_SPAN_ID, L_EVENT_NAME
};

static void log_tables(St *st) {
    Table *t = &st->tables[st->ntables++];
    t->name = "logs";
    table_col(t, "time_ns", C_I64, 0);
    table_col(t, "observed_time_ns", C_I64, 0);
    table_col(t, "severity_number", C_I8, 0);
    table_col(t, "severity_text", C_STR, 0);
    table_col(t, "body", C_STR, 1);
    table_col(t, "body_type", C_STR, 0);
    table_col(t, "attributes", C_STR, 0);
    table_col(t, "dropped_attributes_count", C_U32, 0);
    table_col(t, "flags", C_U32, 0);
    table_col(t, "trace_id", C_STR, 1);
    table_col(t, "span_id", C_STR, 1);
    table_col(t, "event_name", C_STR, 0);
    t->ctx_first = t->ctx_at = context_cols(st, t);
    for (int i = 0; i < t->ncols; i++) col_start(st, &t->cols[i]);
}

static const char *BODY_TYPES[] = {"empty", "string", "bool", "int", "double", "array", "kvlist", "bytes"};

static void read_log(St *st, Table *t, Rd rec, size_t *n, const Ctx *ctx) {
    Col *c = t->cols;
    uint32_t f;
    int wt;
    View empty = {(const uint8_t *)"", 0};
    View tid = empty, sid = empty, stext = empty, event = empty;
    uint64_t time = 0, observed = 0;
    int32_t sev = 0;
    uint32_t dropped = 0, flags = 0;
    Rd body = {0, 0};
    int has_body = 0, nattrs = 0;
    Buf *ab = &c[L_ATTRS].data;
    size_t a0 = ab->n;
    buf_ch(st, ab, '{');
    while (rd_tag(st, &rec, &f, &wt)) {
        switch (f) {
        case 1: need(st, wt, 1); time = rd_fixed64(st, &rec); break;
        case 2: need(st, wt, 0); sev = (int32_t)rd_varint(st, &rec); break;
        case 3: need(st, wt, 2); stext = rd_string(st, &rec); break;
        case 5: need(st, wt, 2); if (has_body) bail(st); has_body = 1; body = rd_sub(st, &rec); break;
        case 6: {
            need(st, wt, 2);
            View key;
            Rd value = {0, 0};
            int has_value = read_kv(st, rd_sub(st, &rec), &key, &value);
            if (nattrs++) buf_ch(st, ab, ',');
            json_kv(st, ab, key, has_value, value, 1);
            break;
        }
        case 7: need(st, wt, 0); dropped = (uint32_t)rd_varint(st, &rec); break;
        case 8: need(st, wt, 5); flags = rd_fixed32(st, &rec); break;
        case 9: need(st, wt, 2); tid = rd_bytes(st, &rec); break;
        case 10: need(st, wt, 2); sid = rd_bytes(st, &rec); break;
        case 11: need(st, wt, 1); observed = rd_fixed64(st, &rec); break;
        case 12: need(st, wt, 2); event = rd_string(st, &rec); break;
        default: rd_skip(st, &rec, wt);
        }
    }
    /* the body: its text goes into the body column (rolled back on rejection) */
    Buf *bb = &c[L_BODY].data;
    size_t b0 = bb->n;
    int kind = 0;
    if (has_body) {
        /* find the kind first: a string body is stored as is, the others as JSON */
        Rd probe = body;
        uint32_t g;
        int wt2;
        int fields = 0;
        View sv = empty;
        Rd kvl = {0, 0};
        while (rd_tag(st, &probe, &g, &wt2)) {
            if (g >= 1 && g <= 8) {
                fields++;
                kind = (int)g;
                if (g == 1) { need(st, wt2, 2); sv = rd_string(st, &probe); }
                else if (g == 6) { need(st, wt2, 2); kvl = rd_sub(st, &probe); }
                else rd_skip(st, &probe, wt2);
            } else {
                rd_skip(st, &probe, wt2);
            }
        }
        if (fields > 1 || kind == 8) bail(st);
        if (kind == 1) buf_put(st, bb, sv.p, sv.n);
        else if (kind == 6) json_kvs(st, bb, kvl, 1, 1, 1, NULL);
        else if (kind) json_anyvalue(st, bb, body, 0);
    }
    char tmp[96];
    const char *problem = check_id(tid, 16, "trace_id", 0, tmp, sizeof tmp);
    if (!problem) problem = check_id(sid, 8, "span_id", 0, tmp, sizeof tmp);
    if (!problem && (time > MAX_NS || observed > MAX_NS)) problem = "timestamps after the year 2262 are not supported";
    if (!problem && !(sev >= 0 && sev <= 24)) {
        snprintf(tmp, sizeof tmp, "severity_number must be between 0 and 24 (got %d)", sev);
        problem = tmp;
    }
    if (problem) {
        ab->n = a0;
        bb->n = b0;
        View none = {NULL, 0};
        reject(st, 1, none, problem, 1);
        return;
    }
    buf_ch(st, ab, '}');
    (*n)++;
    col_int(st, &c[L_TIME], (int64_t)time);
    col_int(st, &c[L_OBSERVED], (int64_t)observed);
    col_int(st, &c[L_SEVERITY], sev);
    col_str(st, &c[L_SEVERITY_TEXT], stext.p, stext.n);
    if (kind) col_close(st, &c[L_BODY]);
    else col_null(st, &c[L_BODY]);
    const char *bt = BODY_TYPES[kind];
    col_str(st, &c[L_BODY_TYPE], (const uint8_t *)bt, strlen(bt));
    col_close(st, &c[L_ATTRS]);
    col_int(st, &c[L_DROPPED], dropped);
    col_int(st, &c[L_FLAGS], flags);
    if (tid.n) col_str(st, &c[L_TRACE_ID], tid.p, tid.n);
    else col_null(st, &c[L_TRACE_ID]);
    if (sid.n) col_str(st, &c[L_SPAN_ID], sid.p, sid.n);
    else col_null(st, &c[L_SPAN_ID]);
    col_str(st, &c[L_EVENT_NAME], event.p, event.n);
}

/* ---- metrics --------------------------------------------------------------------------------- */

enum { T_NUMBERS, T_HISTOGRAMS, T_EXP_HISTOGRAMS, T_SUMMARIES };

/* Columns of _METRIC_COMMON (without the context ones) + the table's own, looked up by name.
   Called ~15 times per data point: the columns were made with the same string literals, which
   the compiler stores once, so comparing pointers finds them (strcmp was 25% of the decoder's time
   on metric points); the strcmp pass is for a name that is not one of those literals. */
static Col *col_named(Table *t, const char *name) {
    for (int i = 0; i < t->ncols; i++)
        if (t->cols[i].name == name) return &t->cols[i];
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return &t->cols[i];
    return NULL;
}

static void metric_common_cols(St *st, Table *t, const char *name) {
    t->name = name;
    table_col(t, "metric_name", C_STR, 0);
    table_col(t, "metric_description", C_STR, 0);
    table_col(t, "metric_unit", C_STR, 0);
    table_col(t, "metric_metadata", C_STR, 0);
    t->ctx_at = t->ncols;
    table_col(t, "attributes", C_STR, 0);
    table_col(t, "start_time_ns", C_I64, 0);
    table_col(t, "time_ns", C_I64, 0);
    table_col(t, "flags", C_U32, 0);
    table_col(t, "exemplars", C_STR, 0);
}

static void metric_tables(St *st) {
    Table *t = &st->tables[st->ntables++];
    metric_common_cols(st, t, "metric_numbers");
    table_col(t, "metric_type", C_STR, 0);
    table_col(t, "temporality", C_I8, 0);
    table_col(t, "is_monotonic", C_BOOL, 0);
    table_col(t, "value", C_F64, 1);
    table_col(t, "value_int", C_I64, 1);
    table_col(t, "series_key", C_U64, 0);
    t = &st->tables[st->ntables++];
    metric_common_cols(st, t, "metric_histograms");
    table_col(t, "temporality", C_I8, 0);
    table_col(t, "count", C_U64, 0);
    table_col(t, "sum", C_F64, 1);
    table_col(t, "min", C_F64, 1);
    table_col(t, "max", C_F64, 1);
    table_col(t, "bucket_counts", C_LU64, 0);
    table_col(t, "explicit_bounds", C_LF64, 0);
    table_col(t, "series_key", C_U64, 0);
    t = &st->tables[st->ntables++];
    metric_common_cols(st, t, "metric_exp_histograms");
    table_col(t, "temporality", C_I8, 0);
    table_col(t, "count", C_U64, 0);
    table_col(t, "sum", C_F64, 1);
    table_col(t, "min", C_F64, 1);
    table_col(t, "max", C_F64, 1);
    table_col(t, "scale", C_I32, 0);
    table_col(t, "zero_count", C_U64, 0);
    table_col(t, "zero_threshold", C_F64, 0);
    table_col(t, "positive_offset", C_I32, 0);
    table_col(t, "positive_bucket_counts", C_LU64, 0);
    table_col(t, "negative_offset", C_I32, 0);
    table_col(t, "negative_bucket_counts", C_LU64, 0);
    t = &st->tables[st->ntables++];
    metric_common_cols(st, t, "metric_summaries");
    table_col(t, "count", C_U64, 0);
    table_col(t, "sum", C_F64, 0);
    table_col(t, "quantiles", C_LF64, 0);
    table_col(t, "quantile_values", C_LF64, 0);
    table_col(t, "series_key", C_U64, 0);
    for (int i = 0; i < st->ntables; i++) {
        st->tables[i].ctx_first = context_cols(st, &st->tables[i]);
        table_col(&st->tables[i], "metric_key", C_U64, 0); /* exported last, as in arrow_schema */
        for (int j = 0; j < st->tables[i].ncols; j++) col_start(st, &st->tables[i].cols[j]);
    }
}

typedef struct {
    size_t data, off, valid, n, nulls;
} Mark;

typedef struct {
    Mark cols[MAX_COLS];
} TableMark;

static void table_mark(Table *t, TableMark *m) {
    for (int i = 0; i < t->ncols; i++) {
        Col *c = &t->cols[i];
        Mark k = {c->data.n, c->off.n, c->valid.n, c->n, c->nulls};
        m->cols[i] = k;
    }
}

static void table_rollback(Table *t, const TableMark *m) {
    for (int i = 0; i < t->ncols; i++) {
        Col *c = &t->cols[i];
        c->data.n = m->cols[i].data;
        c->off.n = m->cols[i].off;
        c->valid.n = m->cols[i].valid;
        c->n = m->cols[i].n;
        c->nulls = m->cols[i].nulls;
    }
}

/* One Exemplar as the dict in _exemplars is encoded. */
static void json_exemplar(St *st, Buf *b, Rd ex) {
    uint32_t f;
    int wt;
    uint64_t time = 0, value = 0;
    int which = 0;
    View tid = {(const uint8_t *)"", 0}, sid = tid;
    Rd all = ex;
    while (rd_tag(st, &ex, &f, &wt)) {
        if (f == 2) { need(st, wt, 1); time = rd_fixed64(st, &ex); }
        else if (f == 3 || f == 6) {
            need(st, wt, 1);
            if (which) bail(st); /* several oneof fields: left to Python */
            which = (int)f;
            value = rd_fixed64(st, &ex);
        }
        else if (f == 4) { need(st, wt, 2); sid = rd_bytes(st, &ex); }
        else if (f == 5) { need(st, wt, 2); tid = rd_bytes(st, &ex); }
        else rd_skip(st, &ex, wt);
    }
    PUTS(st, b, "{\"time_unix_nano\":");
    json_u64(st, b, time);
    PUTS(st, b, ",\"filtered_attributes\":");
    json_kvs(st, b, all, 7, 1, 0, NULL);
    PUTS(st, b, ",\"trace_id\":");
    json_hex(st, b, tid);
    PUTS(st, b, ",\"span_id\":");
    json_hex(st, b, sid);
    if (which == 6) {
        PUTS(st, b, ",\"as_int\":");
        json_i64(st, b, (int64_t)value);
    } else if (which == 3) {
        double d;
        memcpy(&d, &value, 8);
        PUTS(st, b, ",\"as_double\":");
        json_double(st, b, d);
    }
    buf_ch(st, b, '}');
}

static void packed_fixed64(St *st, Rd *r, int wt, Col *c) {
    if (wt == 1) {
        uint64_t v = rd_fixed64(st, r);
        buf_put(st, &c->data, &v, 8);
        return;
    }
    need(st, wt, 2);
    Rd p = rd_sub(st, r);
    size_t n = (size_t)(p.end - p.p);
    if (n % 8) bail(st);
    buf_put(st, &c->data, p.p, n);
}

static void packed_varint(St *st, Rd *r, int wt, Col *c) {
    if (wt == 0) {
        uint64_t v = rd_varint(st, r);
        buf_put(st, &c->data, &v, 8);
        return;
    }
    need(st, wt, 2);
    Rd p = rd_sub(st, r);
    while (p.p < p.end) {
        uint64_t v = rd_varint(st, &p);
        buf_put(st, &c->data, &v, 8);
    }
}

static int32_t zigzag32(uint64_t v) {
    uint32_t u = (uint32_t)v;
    return (int32_t)((u >> 1) ^ (0u - (u & 1)));
}

/* ExponentialHistogramDataPoint.Buckets into (offset column, counts column) */
static void read_buckets(St *st, Rd b, Col *offset, Col *counts, int present) {
    int32_t off = 0;
    uint32_t f;
    int wt;
    if (present) {
        while (rd_tag(st, &b, &f, &wt)) {
            if (f == 1) { need(st, wt, 0); off = zigzag32(rd_varint(st, &b)); }
            else if (f == 2) packed_varint(st, &b, wt, counts);
            else rd_skip(st, &b, wt);
        }
    }
    col_int(st, offset, off);
    col_close(st, counts);
}

typedef struct {
    View name, description, unit;
    Str metadata;
    int kind; /* 5 gauge, 7 sum, 9 histogram, 10 exponential_histogram, 11 summary */
    int32_t temporality;
    int monotonic;
    uint64_t key; /* the series key of its points without their attributes (read_metric) */
    uint64_t def_key; /* metric_key: its definition's values (spyglass/storage/_schema.py) */
} Metric;

static void repeat_view(St *st, Col *c, View v) { col_str(st, c, v.p, v.n); }

/* One data point into ``t`` (the columns are rolled back by the caller if it returns a problem). */
static const char *read_point(St *st, Table *t, const Metric *m, Rd p, char *tmp, size_t tmplen) {
    uint32_t f;
    int wt;
    /* field numbers of the common fields per point type */
    uint32_t f_attrs, f_exemplars, f_flags;
    switch (m->kind) {
    case 9: f_attrs = 9; f_exemplars = 8; f_flags = 10; break;
    case 10: f_attrs = 1; f_exemplars = 11; f_flags = 10; break;
    case 11: f_attrs = 7; f_exemplars = 0; f_flags = 8; break;
    default: f_attrs = 7; f_exemplars = 5; f_flags = 8; break;
    }
    Col *attrs = col_named(t, "attributes"), *exemplars = col_named(t, "exemplars");
    Col *bucket_counts = NULL, *bounds = NULL, *quantiles = NULL, *qvalues = NULL;
    if (m->kind == 9) {
        bucket_counts = col_named(t, "bucket_counts");
        bounds = col_named(t, "explicit_bounds");
    } else if (m->kind == 11) {
        quantiles = col_named(t, "quantiles");
        qvalues = col_named(t, "quantile_values");
    }
    size_t counts0 = bucket_counts ? bucket_counts->data.n : 0, bounds0 = bounds ? bounds->data.n : 0;
    uint64_t start = 0, time = 0, count = 0, zero_count = 0, value = 0;
    uint32_t flags = 0;
    int which = 0, has_sum = 0, has_min = 0, has_max = 0, has_pos = 0, has_neg = 0, nattrs = 0, nex = 0;
    double sum = 0, min = 0, max = 0, zero_threshold = 0;
    int32_t scale = 0;
    Rd pos = {0, 0}, neg = {0, 0};
    size_t attrs0 = attrs->data.n;
    buf_ch(st, &attrs->data, '{');
    buf_ch(st, &exemplars->data, '[');
    while (rd_tag(st, &p, &f, &wt)) {
        if (f == f_attrs) {
            need(st, wt, 2);
            View key;
            Rd value_msg = {0, 0};
            int has_value = read_kv(st, rd_sub(st, &p), &key, &value_msg);
            if (nattrs++) buf_ch(st, &attrs->data, ',');
            json_kv(st, &attrs->data, key, has_value, value_msg, 1);
        } else if (f == 2) {
            need(st, wt, 1);
            start = rd_fixed64(st, &p);
        } else if (f == 3) {
            need(st, wt, 1);
            time = rd_fixed64(st, &p);
        } else if (f_exemplars && f == f_exemplars) {
            need(st, wt, 2);
            if (nex++) buf_ch(st, &exemplars->data, ',');
            json_exemplar(st, &exemplars->data, rd_sub(st, &p));
        } else if (f == f_flags) {
            need(st, wt, 0);
            flags = (uint32_t)rd_varint(st, &p);
        } else if (m->kind == 5 || m->kind == 7) {
            if (f == 4 || f == 6) {
                need(st, wt, 1);
                if (which) bail(st);
                which = (int)f;
                value = rd_fixed64(st, &p);
            } else {
                rd_skip(st, &p, wt);
            }
        } else if (f == 4) {
            need(st, wt, 1);
            count = rd_fixed64(st, &p);
        } else if (f == 5) {
            need(st, wt, 1);
            sum = rd_double(st, &p);
            has_sum = 1;
        } else if (m->kind == 9) {
            if (f == 6) packed_fixed64(st, &p, wt, bucket_counts);
            else if (f == 7) packed_fixed64(st, &p, wt, bounds);
            else if (f == 11) { need(st, wt, 1); min = rd_double(st, &p); has_min = 1; }
            else if (f == 12) { need(st, wt, 1); max = rd_double(st, &p); has_max = 1; }
            else rd_skip(st, &p, wt);
        } else if (m->kind == 10) {
            if (f == 6) { need(st, wt, 0); scale = zigzag32(rd_varint(st, &p)); }
            else if (f == 7) { need(st, wt, 1); zero_count = rd_fixed64(st, &p); }
            else if (f == 8) { need(st, wt, 2); if (has_pos++) bail(st); pos = rd_sub(st, &p); }
            else if (f == 9) { need(st, wt, 2); if (has_neg++) bail(st); neg = rd_sub(st, &p); }
            else if (f == 12) { need(st, wt, 1); min = rd_double(st, &p); has_min = 1; }
            else if (f == 13) { need(st, wt, 1); max = rd_double(st, &p); has_max = 1; }
            else if (f == 14) { need(st, wt, 1); zero_threshold = rd_double(st, &p); }
            else rd_skip(st, &p, wt);
        } else { /* summary */
            if (f == 6) {
                need(st, wt, 2);
                Rd q = rd_sub(st, &p);
                double quantile = 0, qvalue = 0;
                uint32_t g;
                int wt2;
                while (rd_tag(st, &q, &g, &wt2)) {
                    if (g == 1) { need(st, wt2, 1); quantile = rd_double(st, &q); }
                    else if (g == 2) { need(st, wt2, 1); qvalue = rd_double(st, &q); }
                    else rd_skip(st, &q, wt2);
                }
                buf_put(st, &quantiles->data, &quantile, 8);
                buf_put(st, &qvalues->data, &qvalue, 8);
            } else {
                rd_skip(st, &p, wt);
            }
        }
    }
    buf_ch(st, &attrs->data, '}');
    buf_ch(st, &exemplars->data, ']');
    if (start > MAX_NS || time > MAX_NS) return "timestamps after the year 2262 are not supported";
    if (m->kind == 9) {
        size_t nc = (bucket_counts->data.n - counts0) / 8, nb = (bounds->data.n - bounds0) / 8;
        if (nc && nc != nb + 1) {
            snprintf(tmp, tmplen, "histogram has %zu bucket counts for %zu bounds (needs bounds + 1)", nc, nb);
            return tmp;
        }
    }
    Col *key = col_named(t, "series_key");
    if (key) col_int(st, key, (int64_t)xxh64(attrs->data.p + attrs0, attrs->data.n - attrs0, m->key));
    repeat_view(st, col_named(t, "metric_name"), m->name);
    repeat_view(st, col_named(t, "metric_description"), m->description);
    repeat_view(st, col_named(t, "metric_unit"), m->unit);
    col_str(st, col_named(t, "metric_metadata"), (const uint8_t *)st->arena.p + m->metadata.off, m->metadata.len);
    col_close(st, attrs);
    col_int(st, col_named(t, "start_time_ns"), (int64_t)start);
    col_int(st, col_named(t, "time_ns"), (int64_t)time);
    col_int(st, col_named(t, "flags"), flags);
    if (m->kind == 11) {
        exemplars->data.n -= 2; /* SummaryDataPoint has no exemplars: "[]" */
        col_str(st, exemplars, (const uint8_t *)"[]", 2);
    } else {
        col_close(st, exemplars);
    }
    if (m->kind == 5 || m->kind == 7) {
        const char *type = m->kind == 5 ? "gauge" : "sum";
        col_str(st, col_named(t, "metric_type"), (const uint8_t *)type, strlen(type));
        col_int(st, col_named(t, "temporality"), m->temporality);
        col_int(st, col_named(t, "is_monotonic"), m->monotonic);
        Col *v = col_named(t, "value"), *vi = col_named(t, "value_int");
        if (which == 6) {
            col_f64(st, v, (double)(int64_t)value);
            col_int(st, vi, (int64_t)value);
        } else if (which == 4) {
            double d;
            memcpy(&d, &value, 8);
            col_f64(st, v, d);
            col_null(st, vi);
        } else {
            col_null(st, v);
            col_null(st, vi);
        }
        return NULL;
    }
    if (m->kind != 11) col_int(st, col_named(t, "temporality"), m->temporality);
    col_int(st, col_named(t, "count"), (int64_t)count);
    if (m->kind == 11) {
        col_f64(st, col_named(t, "sum"), sum);
        col_close(st, quantiles);
        col_close(st, qvalues);
        return NULL;
    }
    if (has_sum) col_f64(st, col_named(t, "sum"), sum);
    else col_null(st, col_named(t, "sum"));
    if (has_min) col_f64(st, col_named(t, "min"), min);
    else col_null(st, col_named(t, "min"));
    if (has_max) col_f64(st, col_named(t, "max"), max);
    else col_null(st, col_named(t, "max"));
    if (m->kind == 9) {
        col_close(st, bucket_counts);
        col_close(st, bounds);
        return NULL;
    }
    col_int(st, col_named(t, "scale"), scale);
    col_int(st, col_named(t, "zero_count"), (int64_t)zero_count);
    col_f64(st, col_named(t, "zero_threshold"), zero_threshold);
    read_buckets(st, pos, col_named(t, "positive_offset"), col_named(t, "positive_bucket_counts"), has_pos);
    read_buckets(st, neg, col_named(t, "negative_offset"), col_named(t, "negative_bucket_counts"), has_neg);
    return NULL;
}

/* One Metric of a ScopeMetrics: its points into the table of its kind (tables[0] is unused here). */
static void read_metric(St *st, Table *unused, Rd metric, size_t *unused_n, const Ctx *ctx) {
    uint32_t f;
    int wt;
    Metric m;
    memset(&m, 0, sizeof m);
    View empty = {(const uint8_t *)"", 0};
    m.name = m.description = m.unit = empty;
    Rd data = {0, 0};
    Rd all = metric;
    while (rd_tag(st, &metric, &f, &wt)) {
        switch (f) {
        case 1: need(st, wt, 2); m.name = rd_string(st, &metric); break;
        case 2: need(st, wt, 2); m.description = rd_string(st, &metric); break;
        case 3: need(st, wt, 2); m.unit = rd_string(st, &metric); break;
        case 5: case 7: case 9: case 10: case 11:
            need(st, wt, 2);
            if (m.kind) bail(st); /* several data fields (the last wins), or one merged */
            m.kind = (int)f;
            data = rd_sub(st, &metric);
            break;
        default: rd_skip(st, &metric, wt); /* metadata (12) is read below */
        }
    }
    size_t start = st->arena.n;
    json_kvs(st, &st->arena, all, 12, 0, 0, NULL);
    m.metadata.off = start;
    m.metadata.len = st->arena.n - start;
    if (!m.kind) return; /* no data: no points to store or reject */
    int table = m.kind == 9 ? T_HISTOGRAMS : m.kind == 10 ? T_EXP_HISTOGRAMS : m.kind == 11 ? T_SUMMARIES : T_NUMBERS;
    Table *t = &st->tables[table];
    Rd d = data;
    uint64_t temporality = 0, monotonic = 0;
    while (rd_tag(st, &d, &f, &wt)) {
        if (f == 2 && m.kind != 5 && m.kind != 11) { need(st, wt, 0); temporality = rd_varint(st, &d); }
        else if (f == 3 && m.kind == 7) { need(st, wt, 0); monotonic = rd_varint(st, &d); }
        else rd_skip(st, &d, wt); /* data_points (1) are read below */
    }
    m.temporality = (int32_t)temporality;
    if (m.temporality < -128 || m.temporality > 127) bail(st); /* does not fit the int8 column */
    m.monotonic = monotonic != 0;
    /* The series key's part shared by the metric's points: the projection's key columns
       (spyglass/storage/_prometheus.py, _KEY_COLUMNS and _EXTRA_KEYS) but the attributes. */
    uint64_t h = 0;
    const Str *parts[] = {&ctx->rattrs, &ctx->sname, &ctx->sversion, &ctx->sattrs, &ctx->sschema, &m.metadata};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) h = xxh64(st->arena.p + parts[i]->off, parts[i]->len, h);
    h = xxh64(m.name.p, m.name.n, h);
    h = xxh64(m.description.p, m.description.n, h);
    h = xxh64(m.unit.p, m.unit.n, h);
    int64_t kind[3] = {m.kind, m.temporality, m.monotonic};
    m.key = xxh64(kind, sizeof kind, h);
    /* metric_key: the definition alone (name, description, unit, metadata, kind -> type,
       temporality, monotonicity), so the writer finds a run's metric_id without reading its texts. */
    h = xxh64(m.name.p, m.name.n, 0);
    h = xxh64(m.description.p, m.description.n, h);
    h = xxh64(m.unit.p, m.unit.n, h);
    h = xxh64(st->arena.p + m.metadata.off, m.metadata.len, h);
    m.def_key = xxh64(kind, sizeof kind, h);
    size_t n = 0, points = 0;
    TableMark mark;
    TableMark *first = NULL;
    TableMark first_mark;
    char tmp[128];
    d = data;
    while (rd_tag(st, &d, &f, &wt)) {
        if (f != 1) {
            rd_skip(st, &d, wt);
            continue;
        }
        need(st, wt, 2);
        points++;
        table_mark(t, &mark);
        if (!first) {
            first_mark = mark;
            first = &first_mark;
        }
        const char *problem = read_point(st, t, &m, rd_sub(st, &d), tmp, sizeof tmp);
        if (problem) {
            table_rollback(t, &mark);
            if (m.name.n) reject(st, 2, m.name, problem, 1);
            continue;
        }
        n++;
    }
    if (!m.name.n) { /* every point rejected, with one reason (read above all the same) */
        if (first) table_rollback(t, first);
        View none = {NULL, 0};
        reject(st, 3, none, "metric with an empty name", points);
        return;
    }
    Col *def = col_named(t, "metric_key"); /* once per metric: its points share it */
    for (size_t i = 0; i < n; i++) col_int(st, def, (int64_t)m.def_key);
    add_context(st, t, ctx, n);
    st->accepted += n;
    t->rows += n;
}

/* ---- the request: ResourceX -> ScopeX -> items ----------------------------------------------- */

typedef void (*ItemReader)(St *st, Table *t, Rd item, size_t *n, const Ctx *ctx);

static void read_request(St *st, Rd req, ItemReader item) {
    Table *t = &st->tables[0];
    uint32_t f;
    int wt;
    while (rd_tag(st, &req, &f, &wt)) {
        if (f != 1) {
            rd_skip(st, &req, wt);
            continue;
        }
        need(st, wt, 2);
        Rd rx = rd_sub(st, &req);
        Ctx ctx;
        read_resource(st, rx, &ctx);
        uint32_t g;
        int wt2;
        while (rd_tag(st, &rx, &g, &wt2)) {
            if (g != 2) {
                rd_skip(st, &rx, wt2);
                continue;
            }
            need(st, wt2, 2);
            Rd sx = rd_sub(st, &rx);
            read_scope(st, sx, &ctx);
            size_t n = 0;
            uint32_t h;
            int wt3;
            while (rd_tag(st, &sx, &h, &wt3)) {
                if (h != 2) {
                    rd_skip(st, &sx, wt3);
                    continue;
                }
                need(st, wt3, 2);
                item(st, t, rd_sub(st, &sx), &n, &ctx);
            }
            add_context(st, t, &ctx, n);
            st->accepted += n;
            t->rows += n;
        }
    }
}

/* ---- Arrow C data interface -----------------------------------------------------------------
   Each table goes to Python as one struct ArrowArray (a record batch: one child per column) that
   owns the column buffers: pyarrow imports it without copying, where building ~25 arrays per
   table from bytes objects cost ~0.3 us per metric point under the GIL. */

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

typedef struct {
    void *owned[3];
    const void *buffers[3];
    struct ArrowArray values; /* a list column's values, or a dictionary column's dictionary */
    struct ArrowArray *kids[1];
} Node;

typedef struct {
    struct ArrowArray cols[MAX_COLS];
    struct ArrowArray *kids[MAX_COLS];
    const void *buffers[1];
} Root;

static void release_children(struct ArrowArray *a) {
    for (int64_t i = 0; i < a->n_children; i++)
        if (a->children[i]->release) a->children[i]->release(a->children[i]);
}

static void release_node(struct ArrowArray *a) {
    Node *nd = a->private_data;
    release_children(a);
    if (a->dictionary && a->dictionary->release) a->dictionary->release(a->dictionary);
    for (int i = 0; i < 3; i++) free(nd->owned[i]);
    free(nd);
    a->release = NULL;
}

static void release_root(struct ArrowArray *a) {
    release_children(a);
    free(a->private_data);
    a->release = NULL;
}

/* The buffer's memory, now owned by the caller (a 1-byte allocation when it is empty). */
static void *take(St *st, Buf *b) {
    void *p = b->p;
    st->exported_bytes += b->n;
    b->p = NULL;
    b->n = b->cap = 0;
    if (!p && !(p = malloc(1))) nomem(st);
    return p;
}

/* One byte per row -> Arrow's bitmap (validity, booleans). */
static void *pack(St *st, const Buf *b) {
    size_t nbytes = (b->n + 7) / 8;
    st->exported_bytes += nbytes;
    uint8_t *o = calloc(nbytes ? nbytes : 1, 1);
    if (!o) nomem(st);
    for (size_t i = 0; i < b->n; i++)
        if (b->p[i]) o[i >> 3] |= (uint8_t)(1u << (i & 7));
    return o;
}

static void leaf(struct ArrowArray *a, Node *nd, int64_t length, int64_t nulls, int64_t nbuf) {
    memset(a, 0, sizeof(*a));
    a->length = length;
    a->null_count = nulls;
    a->n_buffers = nbuf;
    a->buffers = nd->buffers;
    a->release = release_node;
    a->private_data = nd;
}

static Node *new_node(St *st) {
    Node *nd = calloc(1, sizeof(Node));
    if (!nd) nomem(st);
    return nd;
}

/* Column ``c`` as ``out`` (which then owns its buffers; the column's are emptied). */
static void export_col(St *st, Col *c, size_t rows, struct ArrowArray *out) {
    Node *nd = new_node(st);
    int lists = c->type == C_LU64 || c->type == C_LF64;
    leaf(out, nd, (int64_t)rows, (int64_t)c->nulls, c->type == C_STR ? 3 : 2);
    if (c->type == C_DSTR) { /* int32 indices; the values are the dictionary, a string array */
        nd->buffers[1] = nd->owned[1] = take(st, &c->idx);
        Node *vn = new_node(st);
        leaf(&nd->values, vn, (int64_t)c->dict_n, 0, 3);
        out->dictionary = &nd->values;
        vn->buffers[1] = vn->owned[1] = take(st, &c->off);
        vn->buffers[2] = vn->owned[2] = take(st, &c->data);
        return;
    }
    if (c->nulls) nd->buffers[0] = nd->owned[0] = pack(st, &c->valid);
    if (c->type == C_BOOL) {
        nd->buffers[1] = nd->owned[1] = pack(st, &c->data);
    } else if (c->type == C_STR) {
        nd->buffers[1] = nd->owned[1] = take(st, &c->off);
        nd->buffers[2] = nd->owned[2] = take(st, &c->data);
    } else if (lists) {
        nd->buffers[1] = nd->owned[1] = take(st, &c->off);
        Node *vn = new_node(st);
        leaf(&nd->values, vn, (int64_t)(c->data.n / 8), 0, 2);
        nd->kids[0] = &nd->values;
        out->n_children = 1;
        out->children = nd->kids;
        vn->buffers[1] = vn->owned[1] = take(st, &c->data);
    } else {
        nd->buffers[1] = nd->owned[1] = take(st, &c->data);
    }
}

/* Table ``t`` as a record batch (t->exported), its columns in table order. Runs without the GIL. */
/* The column exported at position k (see Table.ctx_at). */
static int export_col_index(const Table *t, int k) {
    const int block = 10; /* the resource/scope columns before context_run (context_cols) */
    if (k < t->ctx_at) return k;
    if (k < t->ctx_at + block) return t->ctx_first + (k - t->ctx_at);
    if (k < t->ctx_first + block) return k - block;
    return k; /* context_run, context_key */
}

static void export_table(St *st, Table *t) {
    struct ArrowArray *a = calloc(1, sizeof(*a));
    if (!a) nomem(st);
    Root *root = calloc(1, sizeof(Root));
    if (!root) {
        free(a);
        nomem(st);
    }
    a->length = (int64_t)t->rows;
    a->n_buffers = 1;
    a->buffers = root->buffers;
    a->n_children = 0;
    a->children = root->kids;
    a->release = release_root;
    a->private_data = root;
    t->exported = a; /* from here st_free releases it, whatever is exported so far */
    size_t before = st->exported_bytes;
    for (int i = 0; i < t->ncols; i++) {
        root->kids[i] = &root->cols[i]; /* zeroed: released only once export_col gives it buffers */
        a->n_children = i + 1;
        export_col(st, &t->cols[export_col_index(t, i)], t->rows, &root->cols[i]);
    }
    t->nbytes = st->exported_bytes - before;
}

static void free_exported(struct ArrowArray *a) {
    if (!a) return;
    if (a->release) a->release(a);
    free(a);
}

static void capsule_free(PyObject *capsule) {
    free_exported(PyCapsule_GetPointer(capsule, "spyglass.arrow_array"));
}

/* ---- handing the result to Python ------------------------------------------------------------ */

static void st_free(St *st) {
    free(st->arena.p);
    free(st->rejects.p);
    for (int i = 0; i < st->ntables; i++) {
        Table *t = &st->tables[i];
        for (int j = 0; j < t->ncols; j++) {
            free(t->cols[j].data.p);
            free(t->cols[j].off.p);
            free(t->cols[j].valid.p);
            free(t->cols[j].idx.p);
        }
        free_exported(t->exported);
    }
}

/* (rows, record batch capsule, its address, column names, bytes of its buffers) */
static PyObject *table_result(Table *t) {
    PyObject *names = PyTuple_New(t->ncols);
    if (!names) return NULL;
    for (int i = 0; i < t->ncols; i++) {
        PyObject *name = PyUnicode_InternFromString(t->cols[export_col_index(t, i)].name);
        if (!name) {
            Py_DECREF(names);
            return NULL;
        }
        PyTuple_SET_ITEM(names, i, name);
    }
    PyObject *capsule = PyCapsule_New(t->exported, "spyglass.arrow_array", capsule_free);
    if (!capsule) {
        Py_DECREF(names);
        return NULL;
    }
    PyObject *address = PyLong_FromVoidPtr(t->exported);
    t->exported = NULL; /* the capsule owns it */
    if (!address) {
        Py_DECREF(names);
        Py_DECREF(capsule);
        return NULL;
    }
    return Py_BuildValue("(nNNNn)", (Py_ssize_t)t->rows, capsule, address, names, (Py_ssize_t)t->nbytes);
}

static PyObject *result(St *st) {
    PyObject *reasons = PyList_New(0), *tables = PyDict_New();
    if (!reasons || !tables) goto fail;
    size_t nrej = st->rejects.n / sizeof(Reject);
    for (size_t i = 0; i < nrej; i++) {
        const Reject *r = (const Reject *)st->rejects.p + i;
        PyObject *reason;
        if (r->kind == 0) {
            PyObject *name = PyUnicode_DecodeUTF8((const char *)r->name, (Py_ssize_t)r->name_len, "strict");
            if (!name) goto fail;
            reason = PyUnicode_FromFormat("span %R: %s", name, r->problem);
            Py_DECREF(name);
        } else if (r->kind == 2) {
            PyObject *name = PyUnicode_DecodeUTF8((const char *)r->name, (Py_ssize_t)r->name_len, "strict");
            if (!name) goto fail;
            reason = PyUnicode_FromFormat("metric %R: %s", name, r->problem);
            Py_DECREF(name);
        } else if (r->kind == 3) {
            reason = PyUnicode_FromString(r->problem);
        } else {
            reason = PyUnicode_FromFormat("log record: %s", r->problem);
        }
        if (!reason || PyList_Append(reasons, reason) < 0) {
            Py_XDECREF(reason);
            goto fail;
        }
        Py_DECREF(reason);
    }
    for (int i = 0; i < st->ntables; i++) {
        Table *t = &st->tables[i];
        if (!t->rows) continue;
        PyObject *v = table_result(t);
        if (!v || PyDict_SetItemString(tables, t->name, v) < 0) {
            Py_XDECREF(v);
            goto fail;
        }
        Py_DECREF(v);
    }
    return Py_BuildValue("(nnNN)", (Py_ssize_t)st->accepted, (Py_ssize_t)st->rejected, reasons, tables);
fail:
    Py_XDECREF(reasons);
    Py_XDECREF(tables);
    return NULL;
}

static void reserve_hinted(St *st) {
    for (int i = 0; i < st->ntables; i++)
        for (int j = 0; j < st->tables[i].ncols; j++)
            for (int k = 0; k < 4; k++) {
                size_t want = __atomic_load_n(&size_hints[st->sig][i][j][k], __ATOMIC_RELAXED);
                Buf *b = col_buf(&st->tables[i].cols[j], k);
                if (want > b->cap) buf_grow(st, b, want - b->n);
            }
}

static void record_hints(St *st) {
    for (int i = 0; i < st->ntables; i++)
        for (int j = 0; j < st->tables[i].ncols; j++)
            for (int k = 0; k < 4; k++) {
                size_t n = col_buf(&st->tables[i].cols[j], k)->n;
                n += n / 8;
                __atomic_store_n(&size_hints[st->sig][i][j][k], n < HINT_MAX ? n : HINT_MAX, __ATOMIC_RELAXED);
            }
}

static PyObject *wire_decode(PyObject *self, PyObject *args) {
    (void)self;
    const char *signal;
    Py_buffer body;
    if (!PyArg_ParseTuple(args, "sy*", &signal, &body)) return NULL;
    St *st = calloc(1, sizeof(St));
    if (!st) {
        PyBuffer_Release(&body);
        return PyErr_NoMemory();
    }
    PyObject *volatile out = NULL;
    ItemReader volatile reader;
    if (strcmp(signal, "traces") == 0) {
        reader = read_span;
        st->sig = 0;
    } else if (strcmp(signal, "logs") == 0) {
        reader = read_log;
        st->sig = 1;
    } else if (strcmp(signal, "metrics") == 0) {
        reader = read_metric;
        st->sig = 2;
    } else {
        PyErr_Format(PyExc_ValueError, "unknown signal %s", signal);
        goto done;
    }
    if (setjmp(st->jb) == 0) {
        Rd req = {(const uint8_t *)body.buf, (const uint8_t *)body.buf + body.len};
        /* Reading touches no Python object (the body is an immutable buffer), so other threads
           (the event loop, the writer) run meanwhile; building the result needs the GIL again.
           Setting the tables up and reserving their buffers (malloc of a request's worth of
           memory) touch none either, so they run without the GIL too. */
        st->released = PyEval_SaveThread();
        if (reader == read_span) span_tables(st);
        else if (reader == read_log) log_tables(st);
        else metric_tables(st);
        reserve_hinted(st);
        read_request(st, req, reader);
        record_hints(st);
        for (int i = 0; i < st->ntables; i++)
            if (st->tables[i].rows) export_table(st, &st->tables[i]);
        PyEval_RestoreThread(st->released);
        st->released = NULL;
        out = result(st);
    } else if (st->released) {
        PyEval_RestoreThread(st->released); /* a longjmp out of read_request */
        st->released = NULL;
        if (st->why == 2) {
            PyErr_NoMemory();
        } else {
            Py_INCREF(Py_None);
            out = Py_None;
        }
    } else if (st->why == 2) {
        PyErr_NoMemory();
    } else {
        Py_INCREF(Py_None);
        out = Py_None;
    }
done:
    st_free(st);
    free(st);
    PyBuffer_Release(&body);
    return out;
}

static PyObject *wire_double_repr(PyObject *self, PyObject *arg) {
    (void)self;
    double d = PyFloat_AsDouble(arg);
    if (d == -1.0 && PyErr_Occurred()) return NULL;
    if (!isfinite(d)) {
        PyErr_SetString(PyExc_ValueError, "not a finite double");
        return NULL;
    }
    char text[32];
    size_t n = double_repr(d, text);
    return PyUnicode_FromStringAndSize(text, (Py_ssize_t)n);
}

static PyMethodDef METHODS[] = {
    {"double_repr", wire_double_repr, METH_O,
     "double_repr(x) -> repr(x) for a finite float, as the decoder writes it without the GIL (for tests)."},
    {"decode", wire_decode, METH_VARARGS,
     "decode(signal, body) -> (accepted, rejected, reasons, {table: (rows, capsule, address, names, nbytes)})\n"
     "or None\n\n"
     "Each table is a struct ArrowArray (Arrow C data interface) at address, owned by capsule, with\n"
     "one child per column named in names; nbytes is the size of its buffers.\n\n"
     "None means: let the Python decoder read this body (malformed, or a shape left to it)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, .m_name = "_wire", .m_doc = "Compiled OTLP protobuf decoder.", .m_size = -1, .m_methods = METHODS,
};

PyMODINIT_FUNC PyInit__wire(void) { return PyModule_Create(&MODULE); }
