/*
 * MQTT over mutual TLS for smqtt-pub and smqtt-sub: the broker and TLS
 * options both programs take (named as in mosquitto_pub and mosquitto_sub),
 * and one broker connection that reconnects with backoff and explains every
 * failure by broker address and by the option whose file is at fault.
 *
 * The connection runs in the caller's thread. mqtt_link_wait() polls the
 * broker socket together with one descriptor of the caller's (stdin for
 * smqtt-pub), so neither a full pipe nor a slow broker stalls the other.
 * Packets libmosquitto queues (PUBLISH, PUBACK, ...) are written only by
 * mqtt_link_write(): smqtt-sub acknowledges a message only after it has
 * flushed the message to stdout.
 */
#ifndef SMQTT_MQTT_H
#define SMQTT_MQTT_H

#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include <mosquitto.h>

#include "config.h"
#include "keys.h"
#include "options.h"

enum {
	OPT_CAFILE = OPT_FIRST_PROGRAM_OPTION,
	OPT_CAPATH,
	OPT_CERT,
	OPT_KEY,
	OPT_TLS_VERSION,
	OPT_INSECURE,
	OPT_RETRY_FOR,
	OPT_CONFIG,
	OPT_NO_TLS,
	OPT_KEEPALIVE,
	OPT_DEBUG,
	OPT_FIRST_CLIENT_OPTION, /* the programs number their own long options from here */
};

/* -k and -d are the older spellings of --keepalive and --debug, kept with a warning. */
#define MQTT_SHORT_OPTIONS "h:p:i:V:k:d"
#define MQTT_LONG_OPTIONS                                                                          \
	{"host", required_argument, NULL, 'h'},                                                     \
	{"port", required_argument, NULL, 'p'},                                                     \
	{"id", required_argument, NULL, 'i'},                                                       \
	{"protocol-version", required_argument, NULL, 'V'},                                         \
	{"keepalive", required_argument, NULL, OPT_KEEPALIVE},                                      \
	{"debug", no_argument, NULL, OPT_DEBUG},                                                    \
	{"cafile", required_argument, NULL, OPT_CAFILE},                                            \
	{"capath", required_argument, NULL, OPT_CAPATH},                                            \
	{"cert", required_argument, NULL, OPT_CERT},                                                \
	{"key", required_argument, NULL, OPT_KEY},                                                  \
	{"tls-version", required_argument, NULL, OPT_TLS_VERSION},                                  \
	{"insecure", no_argument, NULL, OPT_INSECURE},                                              \
	{"retry-for", required_argument, NULL, OPT_RETRY_FOR},                                      \
	{"config", required_argument, NULL, OPT_CONFIG},                                            \
	{"no-tls", no_argument, NULL, OPT_NO_TLS},                                                  \
	PASSPHRASE_LONG_OPTIONS

/* The --help text of the shared options, part of each program's usage text. */
#define MQTT_OPTIONS_HELP                                                                          \
	"Broker and TLS:\n"                                                                         \
	"  -h, --host HOST           broker host name or address (default localhost)\n"            \
	"  -p, --port PORT           broker port (default 8883; 1883 with --no-tls)\n"              \
	"  -i, --id CLIENTID         MQTT client id (default: the CN of --cert)\n"                  \
	"  -V, --protocol-version V  5 (default) or 311\n"                                          \
	"      --keepalive SECONDS   keepalive interval (default 60)\n"                             \
	"      --cafile FILE         trust the CA certificates in FILE for the broker\n"            \
	"      --capath DIR          trust the CA certificates in DIR (hashed names)\n"             \
	"                            (default for both: the system's CA store)\n"                   \
	"      --cert FILE           client certificate (PEM, chain allowed)\n"                     \
	"      --key FILE            the certificate's private key (PEM, mode 0600)\n"              \
	"      --passfile FILE       the key's passphrase is the first line of FILE\n"              \
	"      --passenv VAR         the key's passphrase is the value of variable VAR\n"           \
	"      --passfd FD           the key's passphrase is the first line read from FD\n"         \
	"      --tls-version VER     lowest TLS version: tlsv1.2 (default) or tlsv1.3\n"           \
	"      --insecure            do not check that the broker's certificate names\n"            \
	"                            HOST (the chain is still verified); warns\n"                   \
	"      --no-tls              plain TCP: no encryption, no certificates on either\n"         \
	"                            side, client id from -i; warns\n"                              \
	"      --debug               print the MQTT conversation on stderr\n"

struct mqtt_options {
	const char *host;
	int port;
	const char *client_id; /* NULL: the CN of the client certificate */
	int protocol;          /* MQTT_PROTOCOL_V5 or MQTT_PROTOCOL_V311 */
	int keepalive;         /* seconds */
	const char *cafile, *capath, *cert, *key;
	struct passphrase_source pass;
	int tls_min_version; /* TLS1_2_VERSION or TLS1_3_VERSION */
	bool insecure;
	bool plain; /* --no-tls: MQTT over plain TCP */
	bool debug;
	long long retry_for; /* seconds to keep trying to reach the broker; < 0: for ever */
	const char *config_path; /* --config FILE, or NULL */
	/* What the command line gave: the configuration file does not override it. */
	struct {
		bool host, port, id, protocol, keepalive, ca, tls_identity, pass, tls_version, insecure,
			retry_for, plain;
	} given;
};

/* Defaults; each program chooses how long it keeps trying to reach the broker. */
void mqtt_options_init(struct mqtt_options *o, long long retry_for);
/* Handle one shared option; false if opt is not one. Dies with EXIT_USAGE on a bad value. */
bool mqtt_option(struct mqtt_options *o, int opt, const char *arg);
/*
 * After the command line: read the configuration (--config, $SMQTT_CONFIG or
 * the default files) and take the broker.* keys for what the command line did
 * not give. --cafile and --capath are taken as a group, and so are --cert,
 * --key and the passphrase options. Dies with EXIT_CONFIG on a bad file or
 * value. The options then point into the result: config_free() it last.
 */
struct config *mqtt_options_config(struct mqtt_options *o);

/* What a program wants from its session with the broker. */
struct mqtt_session {
	bool persistent;          /* keep the session across connections (clean start off) */
	unsigned session_expiry;  /* MQTT v5: seconds the broker keeps a persistent session */
	int send_maximum;         /* QoS 1/2 messages in flight towards the broker */
	int receive_maximum;      /* MQTT v5: QoS 1/2 messages in flight from the broker */
	bool fresh_per_connection; /* forget everything libmosquitto queued when a connection ends */
	/*
	 * MQTT v5: the largest packet the broker may send us, in bytes; 0: no
	 * limit. The broker drops a message that would not fit instead of
	 * sending it, so an oversized message costs the client nothing.
	 */
	unsigned maximum_packet_size;
	bool receives_qos2; /* subscribes at QoS 2: protocol errors are explained by it */
};

/* Called from inside mqtt_link_wait() and mqtt_link_write(). */
struct mqtt_handlers {
	void (*connected)(void *ctx, bool session_present);
	void (*lost)(void *ctx); /* the connection ended; message ids are void */
	void (*published)(void *ctx, int mid, int reason_code);
	void (*message)(void *ctx, const struct mosquitto_message *msg);
	void (*subscribed)(void *ctx, int mid, int count, const int *granted);
};

enum mqtt_state {
	MQTT_DOWN,       /* waiting to (re)connect */
	MQTT_CONNECTING, /* TCP, TLS and CONNECT under way */
	MQTT_UP,         /* CONNACK accepted */
	MQTT_FAILED,     /* gave up: see mqtt_link_failure() */
};

struct mqtt_link;

/*
 * Load the TLS material and settle the client id. Dies with EXIT_CONFIG
 * naming the option and file when a certificate, key or CA is unusable.
 * Connects on the first mqtt_link_wait().
 */
struct mqtt_link *mqtt_link_new(const struct mqtt_options *o, const struct mqtt_session *s,
				const struct mqtt_handlers *h, void *ctx);
/* Close without a DISCONNECT and free: unacknowledged messages stay with the broker. */
void mqtt_link_free(struct mqtt_link *l);
/* Write what is queued, send DISCONNECT, and free. */
void mqtt_link_close(struct mqtt_link *l);

enum mqtt_state mqtt_link_state(const struct mqtt_link *l);
/* "host:port", for messages. */
const char *mqtt_link_address(const struct mqtt_link *l);
const char *mqtt_link_client_id(const struct mqtt_link *l);
/* When MQTT_FAILED: the exit code (EXIT_CONFIG or EXIT_SYSTEM) and the message already printed. */
int mqtt_link_failure(const struct mqtt_link *l);
/* Give up the connection for a reason found by the program (printed as "broker ADDR: ..."). */
void mqtt_link_fail(struct mqtt_link *l, int exit_code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Connect when due, then wait up to timeout_ms (< 0: up to a second) for the
 * broker socket or for fd (if not NULL and fd->fd >= 0; its revents are set),
 * and read what the broker sent. Returns early on a signal.
 */
void mqtt_link_wait(struct mqtt_link *l, struct pollfd *fd, int timeout_ms);
/* Write the packets libmosquitto has queued, as far as the socket takes them. */
void mqtt_link_write(struct mqtt_link *l);

/*
 * Queue one PUBLISH; *mid identifies its acknowledgement. Returns
 * MOSQ_ERR_SUCCESS, MOSQ_ERR_NO_CONN when not connected, or the reason the
 * broker's limits or the topic rule the message out.
 */
int mqtt_publish(struct mqtt_link *l, const char *topic, const void *payload, size_t len, int qos, int *mid);
/* Subscribe to every filter at qos; false (and the link failed) if libmosquitto refuses. */
bool mqtt_subscribe(struct mqtt_link *l, char *const *filters, int count, int qos);

/* Print a line on stderr when -d was given. */
void mqtt_debug(const struct mqtt_link *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));


#endif
