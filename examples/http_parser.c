/*
 * examples/http_parser.c - the bounded HTTP/1.1 request parser (see
 * http_parser.h). Portable C11: no socket, no Windows header, no allocation.
 *
 * Reading guide: http_parse_head() at the bottom of the first part walks
 * the head line by line; each kind of line has its own small function. The
 * rule everywhere: never look past `len`, never trust a length the peer
 * sent, and decide on an error as soon as the bytes prove one.
 */
#include "http_parser.h"

#include <limits.h>
#include <string.h>

/* ---- Characters (RFC 9110 section 5.6) ---------------------------------- */

/* tchar: what a method or a header name may contain. */
static int is_tchar(unsigned char c)
{
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A visible character (a request target is made of these). */
static int is_vchar(unsigned char c) { return c > 0x20 && c < 0x7f; }

/* What a field value may contain: visible, space, tab, and obs-text (>= 0x80). */
static int is_field_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static int is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

static unsigned char lower(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

int http_equals_nocase(const char *s, size_t n, const char *lit)
{
  size_t i;
  for (i = 0; i < n; i++)
    if (lit[i] == '\0' || lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
      return 0;
  return lit[n] == '\0';
}

/* ---- Lines ----------------------------------------------------------------- */

/* A line of the head: [start, start+len) without its "\n" or "\r\n". */
typedef struct line {
  const char *start;
  size_t      len;
} line_t;

/* Finds the line at buf[pos..end). Returns 1 and the line (and *next, the
 * position after it) when its "\n" is there; 0 when the line is unfinished. */
static int next_line(const char *buf, size_t pos, size_t end, line_t *line, size_t *next)
{
  const char *nl = memchr(buf + pos, '\n', end - pos);
  if (nl == NULL)
    return 0;
  line->start = buf + pos;
  line->len = (size_t)(nl - line->start);
  if (line->len > 0 && line->start[line->len - 1] == '\r')
    line->len--;  /* CRLF or a bare LF: both end a line */
  *next = (size_t)(nl - buf) + 1;
  return 1;
}

/* An unfinished line may already be wrong: a control character can never
 * become valid, so say 400 now rather than wait for the buffer to fill.
 * (A CR is allowed as the very last byte: its LF may be on its way.) */
static int partial_is_bad(const char *p, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '\r' && i + 1 == n)
      break;
    if (!is_field_char(c))
      return 1;
  }
  return 0;
}

/* ---- The request line: method SP target SP HTTP/1.x -------------------------- */

static int parse_request_line(line_t line, const http_limits_t *limits, http_request_t *req)
{
  const char *p = line.start, *end = line.start + line.len;

  req->method = p;
  while (p < end && is_tchar((unsigned char)*p))
    p++;
  req->method_len = (size_t)(p - req->method);
  if (req->method_len == 0 || p == end || *p++ != ' ')
    return 400;

  req->target = p;
  while (p < end && is_vchar((unsigned char)*p))
    p++;
  req->target_len = (size_t)(p - req->target);
  if (req->target_len == 0 || p == end || *p++ != ' ')
    return 400;
  if (req->target_len > limits->max_target)
    return 414;

  /* Exactly "HTTP/" DIGIT "." DIGIT, then the end of the line. */
  if (end - p != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' ||
      p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
    return 400;
  if (p[5] != '1')
    return 505;
  req->minor_version = p[7] == '0' ? 0 : 1;
  return HTTP_COMPLETE;
}

/* ---- Header fields ------------------------------------------------------------ */

/* What the header fields said, before the final decisions. */
typedef struct fields {
  int                hosts;          /* Host fields seen */
  int                has_length;     /* a Content-Length was seen */
  int                chunked;        /* Transfer-Encoding: chunked was seen */
  int                close;          /* Connection: close */
  int                keep_alive;     /* Connection: keep-alive (HTTP/1.0) */
  int                expect;         /* 0 none, 1 100-continue, -1 something else */
  unsigned long long length;         /* the Content-Length (ULLONG_MAX if huge) */
} fields_t;

/* Calls `fn` for each element of a comma-separated list, OWS trimmed, empty
 * elements skipped (RFC 9110 section 5.6.1). Stops at the first non-zero
 * answer and returns it. */
static int for_each_element(const char *p, size_t n, fields_t *f,
                            int (*fn)(fields_t *f, const char *s, size_t n))
{
  size_t i = 0;
  while (i < n) {
    size_t start, stop;
    int rc;
    while (i < n && (is_ows((unsigned char)p[i]) || p[i] == ','))
      i++;
    start = i;
    while (i < n && p[i] != ',')
      i++;
    stop = i;
    while (stop > start && is_ows((unsigned char)p[stop - 1]))
      stop--;
    if (stop > start && (rc = fn(f, p + start, stop - start)) != 0)
      return rc;
  }
  return 0;
}

static int connection_option(fields_t *f, const char *s, size_t n)
{
  if (http_equals_nocase(s, n, "close"))
    f->close = 1;
  else if (http_equals_nocase(s, n, "keep-alive"))
    f->keep_alive = 1;
  return 0;  /* other options (Upgrade, ...) do not concern us */
}

/* We decode only "chunked", once, and last; any other coding is 501. */
static int transfer_coding(fields_t *f, const char *s, size_t n)
{
  if (!http_equals_nocase(s, n, "chunked"))
    return 501;
  if (f->chunked)
    return 400;  /* chunked twice */
  f->chunked = 1;
  return 0;
}

/* Content-Length: 1*DIGIT. A repeat must say the same number. */
static int content_length(fields_t *f, const char *s, size_t n)
{
  unsigned long long v = 0;
  size_t i;
  if (n == 0)
    return 400;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 400;
    if (v <= (ULLONG_MAX - 9) / 10)
      v = v * 10 + (unsigned long long)(s[i] - '0');
    else
      v = ULLONG_MAX;  /* saturate: far above any limit anyway */
  }
  if (f->has_length && f->length != v)
    return 400;
  f->has_length = 1;
  f->length = v;
  return 0;
}

/* One "name: value" line. */
static int parse_field(line_t line, fields_t *f)
{
  const char *p = line.start, *end = line.start + line.len, *name = p, *value;
  size_t name_len, value_len;

  while (p < end && is_tchar((unsigned char)*p))
    p++;
  name_len = (size_t)(p - name);
  /* No name, or anything (even a space) between the name and the colon. */
  if (name_len == 0 || p == end || *p++ != ':')
    return 400;
  while (p < end && is_ows((unsigned char)*p))
    p++;
  value = p;
  for (; p < end; p++)
    if (!is_field_char((unsigned char)*p))
      return 400;
  value_len = (size_t)(end - value);
  while (value_len > 0 && is_ows((unsigned char)value[value_len - 1]))
    value_len--;

  if (http_equals_nocase(name, name_len, "host")) {
    f->hosts++;
  } else if (http_equals_nocase(name, name_len, "content-length")) {
    return content_length(f, value, value_len);
  } else if (http_equals_nocase(name, name_len, "transfer-encoding")) {
    if (value_len == 0)
      return 400;
    return for_each_element(value, value_len, f, transfer_coding);
  } else if (http_equals_nocase(name, name_len, "connection")) {
    return for_each_element(value, value_len, f, connection_option);
  } else if (http_equals_nocase(name, name_len, "expect")) {
    f->expect = http_equals_nocase(value, value_len, "100-continue") ? 1 : -1;
  }
  return 0;
}

/* The decisions that need every field: framing, persistence, expectations. */
static int finish_head(const fields_t *f, const http_limits_t *limits, http_request_t *req)
{
  int http11 = req->minor_version == 1;
  if (f->hosts > 1 || (http11 && f->hosts == 0))
    return 400;  /* RFC 9112 section 3.2: exactly one Host in HTTP/1.1 */
  if (f->chunked && (f->has_length || !http11))
    return 400;  /* two framings, or chunked in 1.0: refuse to guess */
  if (!f->chunked && f->length > limits->max_body)
    return 413;
  if (f->expect < 0 && http11)
    return 417;
  req->chunked = f->chunked;
  req->content_length = f->chunked ? 0 : f->length;
  req->expect_continue = http11 && f->expect == 1;
  req->keep_alive = !f->close && (http11 || f->keep_alive);
  return HTTP_COMPLETE;
}

/* ---- The head --------------------------------------------------------------------- */

/* At the end of what arrived, an unfinished line: wrong already (400), too
 * long for the limit (414 in the request line, 431 after), or incomplete. */
static int unfinished(const char *buf, size_t pos, size_t len, const http_limits_t *limits,
                      int in_request_line)
{
  size_t end = len < limits->max_head ? len : limits->max_head;
  if (partial_is_bad(buf + pos, end - pos))
    return 400;
  if (len >= limits->max_head)
    return in_request_line ? 414 : 431;
  return HTTP_INCOMPLETE;
}

int http_parse_head(const char *buf, size_t len, const http_limits_t *limits,
                    http_request_t *req)
{
  size_t end = len < limits->max_head ? len : limits->max_head;  /* never read past it */
  size_t pos = 0, next, fields = 0;
  fields_t f;
  line_t line;
  int rc, empty;

  memset(req, 0, sizeof *req);
  memset(&f, 0, sizeof f);

  /* Up to two empty lines may come before a request (RFC 9112 section 2.2). */
  for (empty = 0;; empty++) {
    if (!next_line(buf, pos, end, &line, &next))
      return unfinished(buf, pos, len, limits, 1);
    if (line.len > 0)
      break;
    if (empty == 2)
      return 400;
    pos = next;
  }
  rc = parse_request_line(line, limits, req);
  if (rc != HTTP_COMPLETE)
    return rc;
  pos = next;

  for (;;) {
    if (!next_line(buf, pos, end, &line, &next))
      return unfinished(buf, pos, len, limits, 0);
    pos = next;
    if (line.len == 0)
      break;  /* the empty line: the head is complete */
    if (++fields > limits->max_headers)
      return 431;
    if (is_ows((unsigned char)line.start[0]))
      return 400;  /* obsolete line folding (or stray whitespace) */
    rc = parse_field(line, &f);
    if (rc != 0)
      return rc;
  }
  req->head_len = pos;
  return finish_head(&f, limits, req);
}

/* ---- Chunked bodies (RFC 9112 section 7.1) ------------------------------------------ */

enum {
  CH_SIZE,          /* hex digits of a chunk size */
  CH_EXT,           /* after the size: ";name=value" extensions, ignored */
  CH_SIZE_LF,       /* the size line had its CR; now its LF */
  CH_DATA,          /* `remaining` data bytes */
  CH_DATA_CR,       /* the CRLF after a chunk's data */
  CH_DATA_LF,
  CH_TRAILER_START, /* after the last chunk: a trailer field or the empty line */
  CH_TRAILER,       /* inside a trailer field (discarded) */
  CH_TRAILER_LF,
  CH_FINAL_LF,      /* the final empty line had its CR; now its LF */
  CH_DONE
};

void http_chunked_init(http_chunked_t *c, unsigned long long max_body, size_t max_trailers)
{
  memset(c, 0, sizeof *c);
  c->state = CH_SIZE;
  c->max_body = max_body;
  c->max_line = 1024;
  c->max_trailers = max_trailers;
}

static int hex_value(unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* The size line is complete: the last chunk, or data to come. */
static int size_line_done(http_chunked_t *c)
{
  if (c->digits == 0)
    return 400;
  c->line = 0;
  c->digits = 0;
  if (c->remaining == 0) {
    c->state = CH_TRAILER_START;
    return 0;
  }
  if (c->remaining > c->max_body - c->total)
    return 413;  /* said before the data arrives: no need to read it */
  c->state = CH_DATA;
  return 0;
}

/* One byte of a size line (state CH_SIZE or CH_EXT). */
static int size_byte(http_chunked_t *c, unsigned char b)
{
  int v;
  if (++c->line > c->max_line)
    return 400;
  if (b == '\r') {
    c->state = CH_SIZE_LF;
    return 0;
  }
  if (b == '\n')
    return size_line_done(c);
  if (c->state == CH_EXT)
    return is_field_char(b) ? 0 : 400;
  v = hex_value(b);
  if (v >= 0) {
    if (++c->digits > 16)
      return 400;  /* more than 64 bits */
    c->remaining = c->remaining * 16 + (unsigned long long)v;
    return 0;
  }
  if ((b == ';' || is_ows(b)) && c->digits > 0) {
    c->state = CH_EXT;
    return 0;
  }
  return 400;
}

/* One byte of the trailer section (every state after the last chunk). */
static int trailer_byte(http_chunked_t *c, unsigned char b)
{
  if (c->state == CH_TRAILER_LF || c->state == CH_FINAL_LF) {
    if (b != '\n')
      return 400;
    c->state = c->state == CH_FINAL_LF ? CH_DONE : CH_TRAILER_START;
    return 0;
  }
  if (c->state == CH_TRAILER_START && (b == '\r' || b == '\n')) {
    c->state = b == '\r' ? CH_FINAL_LF : CH_DONE;
    return 0;
  }
  if (++c->trailers > c->max_trailers)
    return 431;
  if (b == '\r' || b == '\n') {
    c->state = b == '\r' ? CH_TRAILER_LF : CH_TRAILER_START;
    return 0;
  }
  c->state = CH_TRAILER;
  return is_field_char(b) ? 0 : 400;
}

int http_chunked_decode(http_chunked_t *c, char *buf, size_t len, size_t *consumed,
                        size_t *data_len)
{
  size_t r = 0, w = 0;  /* read and write positions: w <= r always */
  int rc = 0;

  while (r < len && c->state != CH_DONE && rc == 0) {
    unsigned char b = (unsigned char)buf[r];
    if (c->state == CH_DATA) {
      /* A run of data: move it down to the write position. */
      size_t n = len - r;
      if ((unsigned long long)n > c->remaining)
        n = (size_t)c->remaining;
      memmove(buf + w, buf + r, n);
      w += n;
      r += n;
      c->remaining -= n;
      c->total += n;
      if (c->remaining == 0)
        c->state = CH_DATA_CR;
      continue;
    }
    r++;
    if (c->state == CH_SIZE || c->state == CH_EXT) {
      rc = size_byte(c, b);
    } else if (c->state == CH_SIZE_LF) {
      rc = b == '\n' ? size_line_done(c) : 400;
    } else if (c->state == CH_DATA_CR) {
      /* CRLF after the data (a bare LF is accepted, as for every line) */
      if (b == '\r')
        c->state = CH_DATA_LF;
      else if (b == '\n')
        c->state = CH_SIZE;
      else
        rc = 400;
    } else if (c->state == CH_DATA_LF) {
      c->state = CH_SIZE;
      rc = b == '\n' ? 0 : 400;
    } else {
      rc = trailer_byte(c, b);
    }
  }
  *consumed = r;
  *data_len = w;
  if (rc != 0)
    return rc;
  return c->state == CH_DONE ? HTTP_COMPLETE : HTTP_INCOMPLETE;
}

/* ---- Reason phrases ------------------------------------------------------------------- */

const char *http_reason(int status)
{
  static const struct { int status; const char *text; } table[] = {
    {100, "Continue"},
    {200, "OK"},
    {400, "Bad Request"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {417, "Expectation Failed"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
    {505, "HTTP Version Not Supported"},
  };
  size_t i;
  for (i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].status == status)
      return table[i].text;
  return "Unknown";
}
