/*
 * Policies: the grammar of fame.h, parsed by recursive descent into a tree
 * of "and" and "or" nodes over attribute leaves, printed back in canonical
 * text, and turned into a monotone span program by the Lewko-Waters
 * conversion. Policies are public: nothing here needs to be constant time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "internal.h"

struct parser {
	const char *text;
	size_t len, at;
	int depth;
	struct fame_policy *policy;
	size_t node_capacity;
	struct fame_policy_error *error;
	bool failed;
};

static bool unquoted_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == ':' || c == '-' || c == '_' || c == '.';
}

int fame_attribute_valid(const char *name, size_t len)
{
	if (len < 1 || len > FAME_ATTRIBUTE_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

static void fail(struct parser *p, size_t at, const char *message)
{
	if (p->failed)
		return;
	p->failed = true;
	if (p->error != NULL) {
		p->error->position = at;
		snprintf(p->error->message, sizeof p->error->message, "%s", message);
	}
}

/* An "expected ..." failure that also names the byte found there, when it is one no token starts with. */
static void fail_expected(struct parser *p, const char *message)
{
	if (p->at < p->len && p->error != NULL && !p->failed) {
		unsigned char c = (unsigned char)p->text[p->at];
		char found[sizeof p->error->message];
		if (c < 0x20 || c == 0x7f)
			snprintf(found, sizeof found, "%s, not the control byte 0x%02x", message, c);
		else if (c > 0x7f)
			snprintf(found, sizeof found, "%s, not the byte 0x%02x (quote such an attribute)", message, c);
		else
			snprintf(found, sizeof found, "%s, not '%c'", message, c);
		fail(p, p->at, found);
		return;
	}
	fail(p, p->at, message);
}

static void skip_space(struct parser *p)
{
	while (p->at < p->len && (p->text[p->at] == ' ' || p->text[p->at] == '\t' ||
	       p->text[p->at] == '\n' || p->text[p->at] == '\r'))
		p->at++;
}

/* The length of the unquoted word at the current position (0 if none). */
static size_t word_length(const struct parser *p)
{
	size_t n = 0;
	while (p->at + n < p->len && unquoted_byte((unsigned char)p->text[p->at + n]))
		n++;
	return n;
}

static bool is_keyword(const char *s, size_t n, const char *keyword)
{
	if (n != strlen(keyword))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((s[i] | 0x20) != keyword[i])
			return false;
	return true;
}

static size_t new_node(struct parser *p, enum policy_kind kind)
{
	struct fame_policy *policy = p->policy;
	if (policy->nodes == p->node_capacity) {
		p->node_capacity = p->node_capacity ? 2 * p->node_capacity : 16;
		policy->node = xrealloc(policy->node, p->node_capacity * sizeof *policy->node);
	}
	memset(&policy->node[policy->nodes], 0, sizeof policy->node[0]);
	policy->node[policy->nodes].kind = kind;
	return policy->nodes++;
}

static void add_child(struct fame_policy *policy, size_t parent, size_t child)
{
	struct policy_node *n = &policy->node[parent];
	n->child = xrealloc(n->child, (n->children + 1) * sizeof *n->child);
	n->child[n->children++] = child;
}

static size_t leaf(struct parser *p, char *name, size_t start)
{
	struct fame_policy *policy = p->policy;
	if (policy->rows == FAME_ROWS_MAX) {
		free(name);
		fail(p, start, "more than 256 attributes");
		return 0;
	}
	size_t n = new_node(p, POLICY_LEAF);
	policy->row_attribute = xrealloc(policy->row_attribute, (policy->rows + 1) * sizeof(char *));
	policy->row_attribute[policy->rows] = name;
	policy->node[n].row = policy->rows++;
	return n;
}

static size_t parse_or(struct parser *p);

static size_t parse_quoted(struct parser *p)
{
	size_t start = p->at;
	char *name = xmalloc(FAME_ATTRIBUTE_MAX + 1);
	size_t n = 0;
	p->at++;
	for (;;) {
		if (p->at == p->len) {
			free(name);
			fail(p, p->at, "expected a closing '\"'");
			return 0;
		}
		unsigned char c = (unsigned char)p->text[p->at];
		if (c == '"')
			break;
		if (c == '\\') {
			p->at++;
			if (p->at == p->len || (p->text[p->at] != '"' && p->text[p->at] != '\\')) {
				free(name);
				fail(p, p->at, "expected '\"' or '\\' after '\\'");
				return 0;
			}
			c = (unsigned char)p->text[p->at];
		} else if (c < 0x20 || c == 0x7f) {
			free(name);
			fail(p, p->at, "a control character is not allowed in an attribute");
			return 0;
		}
		if (n == FAME_ATTRIBUTE_MAX) {
			free(name);
			fail(p, start, "attribute longer than 255 bytes");
			return 0;
		}
		name[n++] = (char)c;
		p->at++;
	}
	p->at++;
	if (n == 0) {
		free(name);
		fail(p, start, "empty attribute");
		return 0;
	}
	name[n] = '\0';
	return leaf(p, name, start);
}

static size_t parse_primary(struct parser *p)
{
	skip_space(p);
	if (p->at == p->len) {
		fail(p, p->at, "expected an attribute or '(' but the policy ended");
		return 0;
	}
	char c = p->text[p->at];
	if (c == '(') {
		size_t open = p->at;
		if (++p->depth > FAME_DEPTH_MAX) {
			fail(p, open, "parentheses nested deeper than 32 levels");
			return 0;
		}
		p->at++;
		size_t n = parse_or(p);
		if (p->failed)
			return 0;
		skip_space(p);
		if (p->at == p->len || p->text[p->at] != ')') {
			fail_expected(p, "expected 'and', 'or' or ')'");
			return 0;
		}
		p->at++;
		p->depth--;
		return n;
	}
	if (c == '"')
		return parse_quoted(p);
	size_t n = word_length(p);
	if (n == 0) {
		fail_expected(p, "expected an attribute or '('");
		return 0;
	}
	if (is_keyword(p->text + p->at, n, "and") || is_keyword(p->text + p->at, n, "or")) {
		fail(p, p->at, "expected an attribute or '(' (quote an attribute named like a keyword)");
		return 0;
	}
	if (n > FAME_ATTRIBUTE_MAX) {
		fail(p, p->at, "attribute longer than 255 bytes");
		return 0;
	}
	char *name = xmalloc(n + 1);
	memcpy(name, p->text + p->at, n);
	name[n] = '\0';
	size_t start = p->at;
	p->at += n;
	return leaf(p, name, start);
}

/* Whether the next token is the keyword; consumes it if so. */
static bool accept_keyword(struct parser *p, const char *keyword)
{
	skip_space(p);
	size_t n = word_length(p);
	if (!is_keyword(p->text + p->at, n, keyword))
		return false;
	p->at += n;
	return true;
}

static size_t parse_and(struct parser *p)
{
	size_t first = parse_primary(p), node = first;
	bool joined = false;
	while (!p->failed && accept_keyword(p, "and")) {
		if (!joined) {
			node = new_node(p, POLICY_AND);
			add_child(p->policy, node, first);
			joined = true;
		}
		size_t next = parse_primary(p);
		if (p->failed)
			break;
		add_child(p->policy, node, next);
	}
	return node;
}

static size_t parse_or(struct parser *p)
{
	size_t first = parse_and(p), node = first;
	bool joined = false;
	while (!p->failed && accept_keyword(p, "or")) {
		if (!joined) {
			node = new_node(p, POLICY_OR);
			add_child(p->policy, node, first);
			joined = true;
		}
		size_t next = parse_and(p);
		if (p->failed)
			break;
		add_child(p->policy, node, next);
	}
	return node;
}

/* Canonical text. */
struct text { char *buf; size_t len, cap; };

static void put(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		while (t->len + n + 1 > t->cap)
			t->cap = t->cap ? 2 * t->cap : 64;
		t->buf = xrealloc(t->buf, t->cap);
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void put_attribute(struct text *t, const char *name)
{
	size_t n = strlen(name);
	bool plain = !is_keyword(name, n, "and") && !is_keyword(name, n, "or");
	for (size_t i = 0; i < n && plain; i++)
		plain = unquoted_byte((unsigned char)name[i]);
	if (plain) {
		put(t, name, n);
		return;
	}
	put(t, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '"' || name[i] == '\\')
			put(t, "\\", 1);
		put(t, name + i, 1);
	}
	put(t, "\"", 1);
}

static void put_node(struct text *t, const struct fame_policy *policy, size_t n)
{
	const struct policy_node *node = &policy->node[n];
	if (node->kind == POLICY_LEAF) {
		put_attribute(t, policy->row_attribute[node->row]);
		return;
	}
	for (size_t i = 0; i < node->children; i++) {
		size_t c = node->child[i];
		bool group = policy->node[c].kind != POLICY_LEAF;
		if (i > 0)
			put(t, node->kind == POLICY_AND ? " and " : " or ", node->kind == POLICY_AND ? 5 : 4);
		if (group)
			put(t, "(", 1);
		put_node(t, policy, c);
		if (group)
			put(t, ")", 1);
	}
}

/*
 * Lewko-Waters: the node gets vector v (columns entries of which the first
 * `used` may be nonzero). "or": every child gets v. "and" of children
 * c1..cm, read as c1 and (c2 and (...)): c1 gets v with a 1 in a new column,
 * the rest gets a vector that is 0 but for a -1 in that column.
 */
static void assign(struct fame_policy *policy, size_t n, const int8_t *v, size_t *used)
{
	const struct policy_node *node = &policy->node[n];
	size_t width = policy->columns;
	if (node->kind == POLICY_LEAF) {
		memcpy(policy->matrix + node->row * width, v, width);
		return;
	}
	if (node->kind == POLICY_OR) {
		for (size_t i = 0; i < node->children; i++)
			assign(policy, node->child[i], v, used);
		return;
	}
	int8_t *mine = xmalloc(width), *rest = xmalloc(width);
	memcpy(rest, v, width);
	for (size_t i = 0; i + 1 < node->children; i++) {
		size_t column = (*used)++;
		memcpy(mine, rest, width);
		mine[column] = 1;
		assign(policy, node->child[i], mine, used);
		memset(rest, 0, width);
		rest[column] = -1;
	}
	assign(policy, node->child[node->children - 1], rest, used);
	free(mine);
	free(rest);
}

/* Columns: one, plus one for each operand of an "and" but its last. */
static size_t count_columns(const struct fame_policy *policy)
{
	size_t columns = 1;
	for (size_t i = 0; i < policy->nodes; i++)
		if (policy->node[i].kind == POLICY_AND)
			columns += policy->node[i].children - 1;
	return columns;
}

void fame_policy_free(struct fame_policy *policy)
{
	if (policy == NULL)
		return;
	for (size_t i = 0; i < policy->nodes; i++)
		free(policy->node[i].child);
	for (size_t i = 0; i < policy->rows; i++)
		free(policy->row_attribute[i]);
	free(policy->node);
	free(policy->row_attribute);
	free(policy->matrix);
	free(policy->text);
	free(policy);
}

int fame_policy_parse(struct fame_policy **out, const char *text, size_t len,
	struct fame_policy_error *error)
{
	struct parser p = {.text = text, .len = len, .error = error};
	*out = NULL;
	if (len > FAME_POLICY_TEXT_MAX) {
		fail(&p, FAME_POLICY_TEXT_MAX, "policy longer than 65535 bytes");
		return FAME_ERR_POLICY;
	}
	p.policy = xcalloc(1, sizeof *p.policy);
	p.policy->root = parse_or(&p);
	if (!p.failed) {
		skip_space(&p);
		if (p.at != p.len)
			fail_expected(&p, "expected 'and', 'or' or the end of the policy");
	}
	if (p.failed) {
		fame_policy_free(p.policy);
		return FAME_ERR_POLICY;
	}
	struct fame_policy *policy = p.policy;
	struct text t = {0};
	put_node(&t, policy, policy->root);
	if (t.len > FAME_POLICY_TEXT_MAX) {
		free(t.buf);
		fame_policy_free(policy);
		fail(&p, 0, "canonical policy longer than 65535 bytes");
		return FAME_ERR_POLICY;
	}
	policy->text = t.buf;
	policy->columns = count_columns(policy);
	policy->matrix = xcalloc(policy->rows, policy->columns);
	int8_t *v = xcalloc(policy->columns, 1);
	size_t used = 1;
	v[0] = 1;
	assign(policy, policy->root, v, &used);
	free(v);
	*out = policy;
	return FAME_OK;
}

const char *fame_policy_text(const struct fame_policy *policy)
{
	return policy->text;
}

const char *fame_policy_attribute(const struct fame_policy *policy, size_t row)
{
	return row < policy->rows ? policy->row_attribute[row] : NULL;
}

size_t fame_policy_rows(const struct fame_policy *policy)
{
	return policy->rows;
}

size_t fame_policy_columns(const struct fame_policy *policy)
{
	return policy->columns;
}

int fame_policy_entry(const struct fame_policy *policy, size_t row, size_t column)
{
	return policy->matrix[row * policy->columns + column];
}

static bool satisfy(const struct fame_policy *policy, size_t n,
	bool (*has)(const void *, const char *), const void *context, size_t *rows, size_t *count)
{
	const struct policy_node *node = &policy->node[n];
	if (node->kind == POLICY_LEAF) {
		if (!has(context, policy->row_attribute[node->row]))
			return false;
		rows[(*count)++] = node->row;
		return true;
	}
	size_t mark = *count;
	for (size_t i = 0; i < node->children; i++) {
		bool ok = satisfy(policy, node->child[i], has, context, rows, count);
		if (node->kind == POLICY_OR && ok)
			return true;
		if (node->kind == POLICY_AND && !ok) {
			*count = mark;
			return false;
		}
	}
	return node->kind == POLICY_AND;
}

size_t policy_satisfying_rows(const struct fame_policy *policy,
	bool (*has)(const void *context, const char *name), const void *context, size_t *rows)
{
	size_t count = 0;
	if (!satisfy(policy, policy->root, has, context, rows, &count))
		return 0;
	return count;
}

struct name_list { const char *const *name; size_t count; };

static bool list_has(const void *context, const char *name)
{
	const struct name_list *list = context;
	for (size_t i = 0; i < list->count; i++)
		if (strcmp(list->name[i], name) == 0)
			return true;
	return false;
}

int fame_policy_satisfied(const struct fame_policy *policy, const char *const *attributes,
	size_t count)
{
	struct name_list list = {attributes, count};
	size_t *rows = xmalloc(policy->rows * sizeof *rows);
	size_t n = policy_satisfying_rows(policy, list_has, &list, rows);
	free(rows);
	return n > 0;
}
