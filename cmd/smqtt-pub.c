/* smqtt-pub: publish the smqtt1 frames on stdin to an MQTT broker over mutual TLS. */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "frame.h"
#include "lineio.h"
#include "mqtt.h"
#include "options.h"

static const char usage_text[] =
	"usage: smqtt-pub [-t TEMPLATE] [-q QOS] [--inflight N] [--retry-for SECONDS]\n"
	"                 [-h HOST] [-p PORT] [-i CLIENTID] [-V 5|311]\n"
	"                 [--cafile FILE] [--capath DIR] [--cert FILE --key FILE]\n"
	"                 [--keepalive SECONDS] [--tls-version VER] [--insecure]\n"
	"                 [--debug] [--config FILE]\n"
	"\n"
	"Read smqtt1 frames from stdin and publish each one to the broker, on the\n"
	"topic TEMPLATE gives for the frame's device. Write every frame the broker\n"
	"acknowledged to stdout, so `| wc -l` counts delivered frames. A malformed\n"
	"line is reported with its line number and not published. With MQTT 5 a frame\n"
	"the broker refuses (such as one its ACL does not allow) is reported and not\n"
	"written; with -V 311 the broker acknowledges a refused frame like any other.\n"
	"When the connection is lost, reconnect and send again every frame not yet\n"
	"acknowledged. Exit when every frame read has been acknowledged.\n"
	"\n"
	"  -t, --topic TEMPLATE      topic; {device} stands for the frame's device id\n"
	"                            (default smqtt/{device}/frames)\n"
	"  -q, --qos QOS             0, 1 (default) or 2\n"
	"      --inflight N          frames sent and not yet acknowledged, at most\n"
	"                            (1-32767, default 300)\n"
	"      --retry-for SECONDS   keep trying to reach the broker this long, then\n"
	"                            give up (default 60; 0: never retry)\n"
	MQTT_OPTIONS_HELP
	"      --config FILE         read settings (broker.*, pub.topic, pub.qos,\n"
	"                            pub.inflight) from FILE; options win\n"
	"      --help                show this help\n"
	"      --version             show the version\n"
	"\n"
	"Without --config, the file named by $SMQTT_CONFIG is read, else the first of\n"
	"$XDG_CONFIG_HOME/smqtt/config.yaml (~/.config/...) and /etc/smqtt/config.yaml\n"
	"that exists; see smqtt.conf(5).\n"
	"\n"
	"Exit status: 0 every frame delivered, 1 some frames malformed, refused or\n"
	"not acknowledged, 2 usage error, 3 certificate, key, CA or configuration file\n"
	"unusable or the broker refused the client, 4 broker unreachable or system\n"
	"error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum { OPT_INFLIGHT = OPT_FIRST_CLIENT_OPTION };

static const struct option long_options[] = {
	{"topic", required_argument, NULL, 't'},
	{"qos", required_argument, NULL, 'q'},
	{"inflight", required_argument, NULL, OPT_INFLIGHT},
	MQTT_LONG_OPTIONS,
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

#define DEFAULT_TEMPLATE "smqtt/{device}/frames"
#define DEVICE_PLACEHOLDER "{device}"
#define MID_COUNT 65536
/* After SIGINT or SIGTERM, wait this long for the frames already sent to be acknowledged. */
#define STOP_GRACE_MS 5000

/* A frame read from stdin and not yet acknowledged. */
struct pending {
	bool used;
	int mid; /* 0: not sent on the current connection */
	unsigned long long lineno;
	unsigned long long seq;
	char device[DEVICE_ID_MAX + 1];
	char *frame;
	size_t len, cap;
};

struct publisher {
	struct mqtt_link *link;
	const char *template;
	char *topic; /* the template expanded for one device */
	int qos;
	struct pending *slots;
	size_t window, outstanding;
	size_t *free_slots;
	size_t nfree;
	int *slot_of_mid; /* MQTT message id -> slot, -1 if none */
	unsigned long long delivered, refused, malformed;
	bool output_closed;
};

/* The template with every {device} replaced; device ids cannot hold '/', '+' or '#'. */
static const char *topic_for(struct publisher *p, const char *device)
{
	char *out = p->topic;
	const char *t = p->template, *mark;
	while ((mark = strstr(t, DEVICE_PLACEHOLDER))) {
		memcpy(out, t, (size_t)(mark - t));
		out += mark - t;
		out = stpcpy(out, device);
		t = mark + strlen(DEVICE_PLACEHOLDER);
	}
	strcpy(out, t);
	return p->topic;
}

/* where: "FILE:LINE" when the template comes from the configuration, else NULL. */
static void topic_init(struct publisher *p, const char *template, const char *where)
{
	size_t n = 0;
	for (const char *t = template; (t = strstr(t, DEVICE_PLACEHOLDER)); t += strlen(DEVICE_PLACEHOLDER))
		n++;
	p->template = template;
	p->topic = xmalloc(strlen(template) + n * DEVICE_ID_MAX + 1);
	const char *sample = topic_for(p, "device");
	if (!*template || mosquitto_validate_utf8(sample, (int)strlen(sample)) != MOSQ_ERR_SUCCESS ||
	    mosquitto_pub_topic_check(sample) != MOSQ_ERR_SUCCESS) {
		char shown[ESCAPED_SIZE(64)];
		escape_text(template, strlen(template), shown, sizeof shown);
		if (where)
			die(EXIT_CONFIG, "%s: key pub.topic: %s: not a topic to publish to (no + or # wildcards)",
			    where, shown);
		die(EXIT_USAGE, "-t %s: not a topic to publish to (no + or # wildcards)", shown);
	}
}

static void release(struct publisher *p, size_t i)
{
	p->slots[i].used = false;
	p->slots[i].mid = 0;
	p->free_slots[p->nfree++] = i;
	p->outstanding--;
}

static void send_frame(struct publisher *p, size_t i)
{
	struct pending *f = &p->slots[i];
	int mid = 0;
	int rc = mqtt_publish(p->link, topic_for(p, f->device), f->frame, f->len, p->qos, &mid);
	if (rc == MOSQ_ERR_NO_CONN)
		return; /* sent again once reconnected */
	if (rc != MOSQ_ERR_SUCCESS) {
		/* The broker's limits (packet size, QoS) rule this frame out on every connection. */
		warning("line %llu: device %s seq %llu: not published: %s", f->lineno, f->device, f->seq,
		      mosquitto_strerror(rc));
		p->refused++;
		release(p, i);
		return;
	}
	if (p->slot_of_mid[mid] >= 0)
		die(EXIT_SYSTEM, "message id %d reused while still in flight", mid);
	f->mid = mid;
	p->slot_of_mid[mid] = (int)i;
}

/* The broker acknowledged a frame (for QoS 0: it was written to the connection). */
static void on_published(void *ctx, int mid, int reason)
{
	struct publisher *p = ctx;
	if (mid <= 0 || mid >= MID_COUNT || p->slot_of_mid[mid] < 0)
		return;
	size_t i = (size_t)p->slot_of_mid[mid];
	struct pending *f = &p->slots[i];
	p->slot_of_mid[mid] = -1;
	if (reason >= 0x80) {
		warning("line %llu: device %s seq %llu: refused by the broker: %s (0x%02x) on topic %s", f->lineno,
		      f->device, f->seq, mosquitto_reason_string(reason), reason, topic_for(p, f->device));
		p->refused++;
	} else {
		p->delivered++;
		if (!p->output_closed && !output_line(f->frame, f->len))
			p->output_closed = true;
	}
	release(p, i);
}

static void on_lost(void *ctx)
{
	struct publisher *p = ctx;
	for (size_t i = 0; i < p->window; i++) {
		if (p->slots[i].used && p->slots[i].mid) {
			p->slot_of_mid[p->slots[i].mid] = -1;
			p->slots[i].mid = 0;
		}
	}
}

static const struct pending *sort_base;

static int by_line(const void *a, const void *b)
{
	unsigned long long x = sort_base[*(const size_t *)a].lineno, y = sort_base[*(const size_t *)b].lineno;
	return x < y ? -1 : x > y;
}

/* A new connection starts empty: send every unacknowledged frame again, in input order. */
static void on_connected(void *ctx, bool session_present)
{
	(void)session_present;
	struct publisher *p = ctx;
	size_t *order = xmalloc(p->window * sizeof *order), n = 0;
	for (size_t i = 0; i < p->window; i++)
		if (p->slots[i].used && !p->slots[i].mid)
			order[n++] = i;
	sort_base = p->slots;
	qsort(order, n, sizeof *order, by_line);
	if (n)
		mqtt_debug(p->link, "sending %zu unacknowledged frames again", n);
	for (size_t k = 0; k < n; k++)
		send_frame(p, order[k]);
	free(order);
}

/* Take frames from stdin while the window has room and input is ready; false at end of input. */
static bool read_frames(struct publisher *p, struct line_reader *in)
{
	while (p->outstanding < p->window) {
		char *line;
		size_t len;
		const char *why;
		struct frame f;
		enum line_status st = line_read(in, &line, &len, 0);
		if (st == LINE_EOF)
			return false;
		if (st == LINE_TIMEOUT || st == LINE_INTERRUPTED)
			return true;
		if (st == LINE_TOO_LONG) {
			warning("line %llu: malformed frame: frame too long; not published", in->lineno);
			p->malformed++;
			continue;
		}
		if (st == LINE_INCOMPLETE) {
			warning("line %llu: %s; not published", in->lineno, LINE_INCOMPLETE_WHY);
			p->malformed++;
			continue;
		}
		if (!frame_parse(line, len, &f, &why)) {
			warning("line %llu: malformed frame: %s; not published", in->lineno, why);
			p->malformed++;
			continue;
		}
		size_t i = p->free_slots[--p->nfree];
		struct pending *s = &p->slots[i];
		if (s->cap < len + 1) {
			s->frame = xrealloc(s->frame, len + 1);
			s->cap = len + 1;
		}
		memcpy(s->frame, line, len + 1);
		s->len = len;
		s->lineno = in->lineno;
		s->seq = (unsigned long long)f.seq;
		memcpy(s->device, f.device, f.device_len);
		s->device[f.device_len] = '\0';
		s->used = true;
		s->mid = 0;
		p->outstanding++;
		send_frame(p, i);
	}
	return true;
}

static void publish_stream(struct publisher *p, struct line_reader *in)
{
	bool input_done = false;
	long long stop_deadline = -1;
	for (;;) {
		enum mqtt_state st = mqtt_link_state(p->link);
		if (st == MQTT_FAILED)
			break;
		if (!input_done && stop_requested()) {
			input_done = true;
			stop_deadline = monotonic_ms() + STOP_GRACE_MS;
		}
		if (p->output_closed)
			input_done = true;
		if (st == MQTT_UP && !input_done && !read_frames(p, in))
			input_done = true;
		mqtt_link_write(p->link);
		if (!p->output_closed && !output_flush())
			p->output_closed = true;
		if (input_done && p->outstanding == 0)
			break;
		if (stop_deadline >= 0 && monotonic_ms() >= stop_deadline)
			break;
		bool want_input = mqtt_link_state(p->link) == MQTT_UP && !input_done && p->outstanding < p->window;
		struct pollfd input = {.fd = want_input ? STDIN_FILENO : -1, .events = POLLIN};
		mqtt_link_wait(p->link, &input, -1);
	}
}

static void publisher_init(struct publisher *p, size_t window)
{
	p->window = window;
	p->slots = xcalloc(window, sizeof *p->slots);
	p->free_slots = xmalloc(window * sizeof *p->free_slots);
	for (size_t i = 0; i < window; i++)
		p->free_slots[i] = window - 1 - i;
	p->nfree = window;
	p->slot_of_mid = xmalloc(MID_COUNT * sizeof *p->slot_of_mid);
	for (size_t i = 0; i < MID_COUNT; i++)
		p->slot_of_mid[i] = -1;
}

static void publisher_free(struct publisher *p)
{
	for (size_t i = 0; i < p->window; i++)
		free(p->slots[i].frame);
	free(p->slots);
	free(p->free_slots);
	free(p->slot_of_mid);
	free(p->topic);
}

/* The first unacknowledged frame's line, for the summary. */
static unsigned long long first_unacknowledged(const struct publisher *p)
{
	unsigned long long first = 0;
	for (size_t i = 0; i < p->window; i++)
		if (p->slots[i].used && (!first || p->slots[i].lineno < first))
			first = p->slots[i].lineno;
	return first;
}

int main(int argc, char **argv)
{
	struct mqtt_options opt;
	struct publisher p = {0};
	const char *template = NULL, *template_where = NULL;
	long long window = -1, qos = -1; /* -1: not given on the command line */
	int c;

	error_init(argv);
	secrets_protect(); /* private keys and passphrases pass through */
	mqtt_options_init(&opt, 60);
	while ((c = getopt_long(argc, argv, MQTT_SHORT_OPTIONS "t:q:", long_options, NULL)) != -1) {
		switch (c) {
		case 't':
			template = optarg;
			break;
		case 'q':
			qos = option_number("-q", optarg, 0, 2);
			break;
		case OPT_INFLIGHT:
			window = option_number("--inflight", optarg, 1, 32767);
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			return EXIT_OK;
		case OPT_VERSION:
			print_version();
			return EXIT_OK;
		default:
			if (!mqtt_option(&opt, c, optarg))
				usage();
		}
	}
	if (optind != argc) {
		warning("unexpected argument: %s", argv[optind]);
		usage();
	}
	/* Flags win over the file, the file over the defaults. */
	struct config *cfg = mqtt_options_config(&opt);
	if (!template && (template = config_string(cfg, "pub.topic")))
		template_where = config_where(cfg, "pub.topic");
	if (!template)
		template = DEFAULT_TEMPLATE;
	if (qos < 0 && !config_integer(cfg, "pub.qos", &qos))
		qos = 1;
	if (window < 0 && !config_integer(cfg, "pub.inflight", &window))
		window = 300;
	p.qos = (int)qos;
	topic_init(&p, template, template_where);

	struct mqtt_session session = {
		.persistent = false,
		.send_maximum = (int)window,
		/* A new connection has a new session: what libmosquitto queued for the old one goes. */
		.fresh_per_connection = true,
	};
	struct mqtt_handlers handlers = {
		.connected = on_connected,
		.lost = on_lost,
		.published = on_published,
	};
	output_init();
	stop_on_signals();
	publisher_init(&p, (size_t)window);
	p.link = mqtt_link_new(&opt, &session, &handlers, &p);

	struct line_reader in;
	line_reader_init(&in, STDIN_FILENO, "stdin", FRAME_MAX);
	/* A frame is taken byte for byte: no BOM or CR is silently dropped. */
	in.strip_bom = false;
	in.strip_cr = false;
	publish_stream(&p, &in);
	line_reader_free(&in);

	int status = EXIT_OK;
	unsigned long long unacknowledged = p.outstanding;
	if (unacknowledged)
		warning("%llu frames not acknowledged by the broker, from line %llu on; they may or may not have "
		      "reached it",
		      unacknowledged, first_unacknowledged(&p));
	if (p.refused || p.malformed || unacknowledged) {
		warning("%llu delivered, %llu refused, %llu malformed, %llu not acknowledged", p.delivered, p.refused,
		      p.malformed, unacknowledged);
		status = EXIT_REJECTED;
	}
	if (mqtt_link_state(p.link) == MQTT_FAILED) {
		status = mqtt_link_failure(p.link);
		mqtt_link_free(p.link);
	} else {
		mqtt_link_close(p.link);
	}
	output_flush();
	publisher_free(&p);
	config_free(cfg);
	return status;
}
