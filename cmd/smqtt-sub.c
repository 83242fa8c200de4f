/* smqtt-sub: write the messages of MQTT topic filters to stdout, one line each, over mutual TLS. */
#include <getopt.h>
#include <stdbool.h>
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
	"usage: smqtt-sub -t FILTER... [-q QOS] [-C COUNT] [-W SECONDS] [-v]\n"
	"                 [--session-expiry SECONDS] [--max-packet-size BYTES]\n"
	"                 [--retry-for SECONDS]\n"
	"                 [-h HOST] [-p PORT] [-i CLIENTID] [-V 5|311]\n"
	"                 [--cafile FILE] [--capath DIR] [--cert FILE --key FILE]\n"
	"                 [--keepalive SECONDS] [--tls-version VER] [--insecure]\n"
	"                 [--debug] [--config FILE]\n"
	"\n"
	"Subscribe to the topic filters and write each message received to stdout as\n"
	"one line. A message holding a CR, LF or NUL byte, an empty one, or one longer\n"
	"than a frame can be, is reported on stderr with its topic and skipped. A\n"
	"message is acknowledged to the broker only once it has been written to stdout.\n"
	"\n"
	"The session is persistent: what is published while smqtt-sub is away is\n"
	"delivered when it comes back with the same client id. A one-off run (-C or -W)\n"
	"keeps no session at the broker unless -i names one or --session-expiry asks.\n"
	"\n"
	"  -t, --topic FILTER        subscribe to FILTER (repeatable); several\n"
	"                            subscribers to $share/GROUP/FILTER share its messages\n"
	"  -q, --qos QOS             subscription QoS: 0, 1 (default) or 2 (not reliable\n"
	"                            with mosquitto 2.0; see the manual)\n"
	"  -C, --count N             exit after N messages\n"
	"  -W, --timeout SECONDS     exit after SECONDS\n"
	"  -v, --verbose             write the topic and a space before each message\n"
	"      --session-expiry SECONDS\n"
	"                            how long the broker keeps the session while no\n"
	"                            smqtt-sub is connected (default 86400, or 0 with\n"
	"                            -C or -W and no -i; 0: no persistent session)\n"
	"      --max-packet-size BYTES\n"
	"                            the broker drops a message larger than this\n"
	"                            instead of sending it (MQTT 5; default 65536;\n"
	"                            0: no limit)\n"
	"      --retry-for SECONDS   give up once the broker has been unreachable this\n"
	"                            long (default: never give up)\n"
	MQTT_OPTIONS_HELP
	"      --config FILE         read settings (broker.*, sub.topic, sub.qos,\n"
	"                            sub.session_expiry) from FILE; options win\n"
	"      --help                show this help\n"
	"      --version             show the version\n"
	"\n"
	"Without --config, the file named by $SMQTT_CONFIG is read, else the first of\n"
	"$XDG_CONFIG_HOME/smqtt/config.yaml (~/.config/...) and /etc/smqtt/config.yaml\n"
	"that exists; see smqtt.conf(5). Any -t replaces all of the file's sub.topic.\n"
	"\n"
	"Exit status: 0 ok, 1 some messages skipped, 2 usage error, 3 certificate,\n"
	"key, CA or configuration file unusable or the broker refused the client,\n"
	"4 broker unreachable or system error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum { OPT_SESSION_EXPIRY = OPT_FIRST_CLIENT_OPTION, OPT_MAX_PACKET_SIZE };

static const struct option long_options[] = {
	{"topic", required_argument, NULL, 't'},
	{"qos", required_argument, NULL, 'q'},
	{"count", required_argument, NULL, 'C'},
	{"timeout", required_argument, NULL, 'W'},
	{"verbose", no_argument, NULL, 'v'},
	{"session-expiry", required_argument, NULL, OPT_SESSION_EXPIRY},
	{"max-packet-size", required_argument, NULL, OPT_MAX_PACKET_SIZE},
	MQTT_LONG_OPTIONS,
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

/* QoS 1/2 messages the broker may send before our acknowledgements. */
#define RECEIVE_MAXIMUM 1000
/* How long the broker keeps a persistent session while no smqtt-sub is connected. */
#define SESSION_EXPIRY 86400
/*
 * The largest packet the broker may send. A frame packet is at most FRAME_MAX
 * (4329) bytes of message and a topic of a hundred or so; 64 KiB leaves room
 * for a line many times that, such as an encrypted reading, while one
 * oversized message can no longer make smqtt-sub read it whole. Below the
 * minimum, valid frames on long topics would be dropped without a word.
 */
#define MAX_PACKET_SIZE 65536
#define MAX_PACKET_SIZE_MIN 8192
#define MAX_PACKET_SIZE_MAX 268435455 /* MQTT's largest remaining length */

struct subscriber {
	struct mqtt_link *link;
	char **filters;
	int nfilters;
	int qos;
	unsigned long long count; /* 0: no limit */
	unsigned long long written, skipped;
	bool verbose;
	char *line; /* -v: topic and message */
	size_t line_cap;
	bool output_closed;
	bool beyond_count; /* a message arrived after the count was reached */
};

static void on_message(void *ctx, const struct mosquitto_message *msg)
{
	struct subscriber *s = ctx;
	const char *payload = msg->payload;
	size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	const char *why = NULL;
	if (s->output_closed)
		return;
	if (s->count && s->written >= s->count) {
		s->beyond_count = true;
		return;
	}
	if (len == 0)
		why = "is empty";
	else if (len > FRAME_MAX)
		why = "is longer than a frame can be";
	else if (memchr(payload, '\n', len))
		why = "contains a LF byte";
	else if (memchr(payload, '\r', len))
		why = "contains a CR byte";
	else if (memchr(payload, '\0', len))
		why = "contains a NUL byte";
	else if (s->verbose && strpbrk(msg->topic, "\r\n"))
		why = "has a line break in its topic";
	if (why) {
		char topic[256];
		warning("topic %s: message of %zu bytes %s; skipped",
		      escape_text(msg->topic, strlen(msg->topic), topic, sizeof topic), len, why);
		s->skipped++;
		return;
	}
	if (s->verbose) {
		/* "TOPIC PAYLOAD" as one line */
		size_t topic_len = strlen(msg->topic);
		if (s->line_cap < topic_len + 1 + len) {
			s->line_cap = topic_len + 1 + len;
			s->line = xrealloc(s->line, s->line_cap);
		}
		memcpy(s->line, msg->topic, topic_len);
		s->line[topic_len] = ' ';
		memcpy(s->line + topic_len + 1, payload, len);
		payload = s->line;
		len += topic_len + 1;
	}
	if (!output_line(payload, len)) {
		s->output_closed = true;
		return;
	}
	s->written++;
}

static void on_connected(void *ctx, bool session_present)
{
	(void)session_present;
	struct subscriber *s = ctx;
	/* Subscribe on every connection: the session may have been lost with the broker's state. */
	mqtt_subscribe(s->link, s->filters, s->nfilters, s->qos);
}

static void on_subscribed(void *ctx, int mid, int count, const int *granted)
{
	(void)mid;
	struct subscriber *s = ctx;
	for (int i = 0; i < count && i < s->nfilters; i++) {
		if (granted[i] >= 0x80) {
			mqtt_link_fail(s->link, EXIT_CONFIG, "subscribing to %s: refused by the broker: %s", s->filters[i],
				       mosquitto_reason_string(granted[i]));
			return;
		}
		if (granted[i] < s->qos)
			warning("broker %s: %s: granted QoS %d only", mqtt_link_address(s->link), s->filters[i], granted[i]);
	}
}

/* Returns true when the messages written may be acknowledged and the session closed normally. */
static bool subscribe_stream(struct subscriber *s, long long timeout)
{
	long long deadline = timeout ? monotonic_ms() + timeout * 1000 : -1;
	for (;;) {
		if (stop_requested() || mqtt_link_state(s->link) == MQTT_FAILED)
			return true;
		int wait = -1;
		if (deadline >= 0) {
			long long left = deadline - monotonic_ms();
			if (left <= 0)
				return true;
			wait = left > 1000 ? 1000 : (int)left;
		}
		/* A reader that has gone away shows as an error on our end of the pipe. */
		struct pollfd out = {.fd = STDOUT_FILENO, .events = 0};
		mqtt_link_wait(s->link, &out, wait);
		if (out.revents & (POLLERR | POLLHUP))
			s->output_closed = true;
		if (!s->output_closed && !output_flush())
			s->output_closed = true;
		/*
		 * Messages received but not written (stdout gone, or past the count) must
		 * not be acknowledged: leave the acknowledgements unsent, and the broker
		 * delivers those messages again to the next subscriber of this session.
		 */
		if (s->output_closed || s->beyond_count)
			return false;
		mqtt_link_write(s->link);
		if (s->count && s->written >= s->count)
			return true;
	}
}

int main(int argc, char **argv)
{
	struct mqtt_options opt;
	struct subscriber s = {0};
	long long timeout = 0, session_expiry = -1, qos = -1; /* -1: not given on the command line */
	long long max_packet_size = MAX_PACKET_SIZE;
	int c;

	error_init(argv);
	secrets_protect(); /* private keys and passphrases pass through */
	mqtt_options_init(&opt, -1);
	s.filters = xcalloc((size_t)argc, sizeof *s.filters);
	while ((c = getopt_long(argc, argv, MQTT_SHORT_OPTIONS "t:q:C:W:v", long_options, NULL)) != -1) {
		switch (c) {
		case 't':
			if (mosquitto_validate_utf8(optarg, (int)strlen(optarg)) != MOSQ_ERR_SUCCESS ||
			    mosquitto_sub_topic_check(optarg) != MOSQ_ERR_SUCCESS) {
				char shown[ESCAPED_SIZE(64)];
				die(EXIT_USAGE, "-t %s: not a valid topic filter",
				    escape_text(optarg, strlen(optarg), shown, sizeof shown));
			}
			s.filters[s.nfilters++] = optarg;
			break;
		case 'q':
			qos = option_number("-q", optarg, 0, 2);
			break;
		case 'C':
			s.count = (unsigned long long)option_number("-C", optarg, 1, 1LL << 62);
			break;
		case 'W':
			timeout = option_number("-W", optarg, 1, 100LL * 365 * 86400);
			break;
		case 'v':
			s.verbose = true;
			break;
		case OPT_SESSION_EXPIRY:
			session_expiry = option_number("--session-expiry", optarg, 0, 4294967295LL);
			break;
		case OPT_MAX_PACKET_SIZE:
			max_packet_size = option_number("--max-packet-size", optarg, 0, MAX_PACKET_SIZE_MAX);
			if (max_packet_size && max_packet_size < MAX_PACKET_SIZE_MIN)
				die(EXIT_USAGE, "--max-packet-size %lld: below %d, frames could be dropped; 0 means no limit",
				    max_packet_size, MAX_PACKET_SIZE_MIN);
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			free(s.filters);
			return EXIT_OK;
		case OPT_VERSION:
			print_version();
			free(s.filters);
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
	const char *const *items;
	size_t nitems = s.nfilters ? 0 : config_list(cfg, "sub.topic", &items);
	if (nitems) {
		free(s.filters);
		s.filters = xcalloc(nitems, sizeof *s.filters);
		for (size_t i = 0; i < nitems; i++) {
			if (mosquitto_validate_utf8(items[i], (int)strlen(items[i])) != MOSQ_ERR_SUCCESS ||
			    mosquitto_sub_topic_check(items[i]) != MOSQ_ERR_SUCCESS) {
				char shown[ESCAPED_SIZE(64)];
				escape_text(items[i], strlen(items[i]), shown, sizeof shown);
				die(EXIT_CONFIG, "%s: key sub.topic: %s: not a valid topic filter",
				    config_where(cfg, "sub.topic"), shown);
			}
			s.filters[s.nfilters++] = (char *)items[i];
		}
	}
	if (!s.nfilters) {
		config_free(cfg);
		free(s.filters);
		warning("no topic filter given (-t FILTER, or sub.topic in the configuration)");
		usage();
	}
	if (qos < 0 && !config_integer(cfg, "sub.qos", &qos))
		qos = 1;
	s.qos = (int)qos;
	/*
	 * As with mosquitto_sub -c -i, a session outlives the run only when asked
	 * for: a one-off run (-C, -W) that names no client id leaves nothing
	 * queueing at the broker. The long-running collector keeps its session
	 * under the certificate's name, as it always has.
	 */
	bool one_off = s.count || timeout;
	if (session_expiry < 0 && !config_integer(cfg, "sub.session_expiry", &session_expiry))
		session_expiry = one_off && !opt.client_id ? 0 : SESSION_EXPIRY;
	if (s.qos == 2)
		warning("warning: QoS 2: a killed smqtt-sub loses the messages it was receiving, and mosquitto 2.0 "
		      "can stall a QoS 2 backlog; QoS 1 loses nothing (see QoS 2 in smqtt-sub(1))");

	struct mqtt_session session = {
		.persistent = session_expiry > 0,
		.session_expiry = (unsigned)session_expiry,
		/*
		 * With -C, no more in flight than the count, so that with a smaller
		 * count none beyond it reaches us (see "Counting" in the manual).
		 */
		.receive_maximum = s.count && s.count < RECEIVE_MAXIMUM ? (int)s.count : RECEIVE_MAXIMUM,
		.fresh_per_connection = false,
		.maximum_packet_size = (unsigned)max_packet_size,
		.receives_qos2 = s.qos == 2,
	};
	struct mqtt_handlers handlers = {
		.connected = on_connected,
		.message = on_message,
		.subscribed = on_subscribed,
	};
	output_init();
	stop_on_signals();
	s.link = mqtt_link_new(&opt, &session, &handlers, &s);
	bool orderly = subscribe_stream(&s, timeout);
	output_flush();

	int status = EXIT_OK;
	if (s.skipped) {
		warning("%llu messages written, %llu skipped", s.written, s.skipped);
		status = EXIT_REJECTED;
	}
	if (mqtt_link_state(s.link) == MQTT_FAILED) {
		status = mqtt_link_failure(s.link);
		mqtt_link_free(s.link);
	} else if (orderly) {
		mqtt_link_close(s.link);
	} else {
		mqtt_link_free(s.link);
	}
	free(s.filters);
	free(s.line);
	config_free(cfg);
	return status;
}
