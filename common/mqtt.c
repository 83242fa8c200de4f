#include "mqtt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mqtt_protocol.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "error.h"
#include "lineio.h"
#include "x509.h"

/* Reconnection backoff: doubles from the first delay up to the last. */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
/* A connection that lasted this long resets the backoff; shorter ones keep it growing. */
#define STABLE_MS 10000
/* TLS alert 116 (RFC 8446); OpenSSL 3.0 names it "unknown". */
#define ALERT_CERTIFICATE_REQUIRED 116
/*
 * Connections in a row that may end in a protocol error before giving up.
 * The broker breaking the protocol does not mend itself on reconnecting:
 * mosquitto 2.0 resends the same excess of QoS 2 messages every time.
 */
#define PROTOCOL_ERRORS_MAX 3

/* What went wrong with the current connection attempt or connection. */
struct failure_clues {
	char verify[256];    /* the broker's certificate did not verify: why */
	int verify_error;    /* and OpenSSL's code for it (X509_V_ERR_...) */
	int alert;           /* fatal TLS alert received from the broker, or -1 */
	int connack;         /* CONNACK refusal, or -1 */
	int disconnect;      /* first on_disconnect code (a v5 reason code when >= 0x80), or -1 */
	int saved_errno;     /* errno when the connection dropped */
	char tls[256];       /* OpenSSL's reason, as libmosquitto logged it */
	unsigned long tls_error; /* and its code (as ERR_get_error() gives it), or 0 */
	bool handshake_done; /* the TLS handshake had completed */
};

struct mqtt_link {
	const struct mqtt_options *opt;
	struct mqtt_session session;
	struct mqtt_handlers handlers;
	void *ctx;
	SSL_CTX *tls;
	char *client_id;
	char address[300];
	char ca_source[512];
	struct mosquitto *mosq;
	enum mqtt_state state;
	bool dropped; /* libmosquitto reported the connection gone */
	long long attempt_started, next_attempt, backoff_ms;
	long long outage_started; /* < 0: not in an outage */
	long long up_since;
	int quick_closes; /* connections in a row the broker closed before STABLE_MS */
	int protocol_errors; /* connections in a row that ended in a protocol error */
	bool ever_up;
	struct failure_clues why;
	int exit_code;
};

/* Options */

void mqtt_options_init(struct mqtt_options *o, long long retry_for)
{
	memset(o, 0, sizeof *o);
	o->host = "localhost";
	o->port = 8883;
	o->protocol = MQTT_PROTOCOL_V5;
	o->keepalive = 60;
	o->pass = (struct passphrase_source)PASSPHRASE_SOURCE_NONE;
	o->tls_min_version = TLS1_2_VERSION;
	o->retry_for = retry_for;
}

static bool protocol_version(const char *arg, int *protocol)
{
	if (strcmp(arg, "5") == 0 || strcmp(arg, "mqttv5") == 0)
		*protocol = MQTT_PROTOCOL_V5;
	else if (strcmp(arg, "311") == 0 || strcmp(arg, "mqttv311") == 0)
		*protocol = MQTT_PROTOCOL_V311;
	else
		return false;
	return true;
}

static bool tls_version(const char *arg, int *version)
{
	if (strcmp(arg, "tlsv1.2") == 0)
		*version = TLS1_2_VERSION;
	else if (strcmp(arg, "tlsv1.3") == 0)
		*version = TLS1_3_VERSION;
	else
		return false;
	return true;
}

bool mqtt_option(struct mqtt_options *o, int opt, const char *arg)
{
	switch (opt) {
	case 'h':
		if (!*arg)
			die(EXIT_USAGE, "-h: empty host name");
		o->host = arg;
		o->given.host = true;
		return true;
	case 'p':
		o->port = (int)option_number("-p", arg, 1, 65535);
		o->given.port = true;
		return true;
	case 'i':
		if (!*arg || mosquitto_validate_utf8(arg, (int)strlen(arg)) != MOSQ_ERR_SUCCESS) {
			char shown[ESCAPED_SIZE(64)];
			die(EXIT_USAGE, "-i %s: not a valid client id",
			    escape_text(arg, strlen(arg), shown, sizeof shown));
		}
		o->client_id = arg;
		o->given.id = true;
		return true;
	case 'V':
		if (!protocol_version(arg, &o->protocol))
			die(EXIT_USAGE, "-V %s: expected 5 or 311", arg);
		o->given.protocol = true;
		return true;
	case 'k':
		warning("-k is deprecated; use --keepalive");
		/* fall through */
	case OPT_KEEPALIVE:
		o->keepalive = (int)option_number("--keepalive", arg, 5, 65535);
		o->given.keepalive = true;
		return true;
	case 'd':
		warning("-d is deprecated; use --debug");
		/* fall through */
	case OPT_DEBUG:
		o->debug = true;
		return true;
	case OPT_CAFILE:
		o->cafile = arg;
		o->given.ca = true;
		return true;
	case OPT_CAPATH:
		o->capath = arg;
		o->given.ca = true;
		return true;
	case OPT_CERT:
		o->cert = arg;
		o->given.tls_identity = true;
		return true;
	case OPT_KEY:
		o->key = arg;
		o->given.tls_identity = true;
		return true;
	case OPT_TLS_VERSION:
		if (!tls_version(arg, &o->tls_min_version))
			die(EXIT_USAGE, "--tls-version %s: expected tlsv1.2 or tlsv1.3", arg);
		o->given.tls_version = true;
		return true;
	case OPT_INSECURE:
		o->insecure = true;
		o->given.insecure = true;
		return true;
	case OPT_RETRY_FOR:
		o->retry_for = option_number("--retry-for", arg, 0, 100LL * 365 * 86400);
		o->given.retry_for = true;
		return true;
	case OPT_CONFIG:
		o->config_path = arg;
		return true;
	case OPT_NO_TLS:
		o->plain = true;
		o->given.plain = true;
		return true;
	default:
		if (!passphrase_option(&o->pass, opt, arg))
			return false;
		o->given.pass = true;
		return true;
	}
}

struct config *mqtt_options_config(struct mqtt_options *o)
{
	struct config *cfg = config_open(o->config_path);
	const char *s;
	long long n;
	if (!o->given.host && (s = config_string(cfg, "broker.host")))
		o->host = s;
	if (!o->given.port && config_integer(cfg, "broker.port", &n))
		o->port = (int)n;
	if (!o->given.id && (s = config_string(cfg, "broker.id"))) {
		if (mosquitto_validate_utf8(s, (int)strlen(s)) != MOSQ_ERR_SUCCESS) {
			char shown[ESCAPED_SIZE(64)];
			die(EXIT_CONFIG, "%s: key broker.id: %s: not a valid client id", config_where(cfg, "broker.id"),
			    escape_text(s, strlen(s), shown, sizeof shown));
		}
		o->client_id = s;
	}
	if (!o->given.protocol && (s = config_string(cfg, "broker.protocol_version")))
		protocol_version(s, &o->protocol); /* the table admits only the valid words */
	if (!o->given.keepalive && config_integer(cfg, "broker.keepalive", &n))
		o->keepalive = (int)n;
	if (!o->given.ca) {
		o->cafile = config_string(cfg, "broker.cafile");
		o->capath = config_string(cfg, "broker.capath");
	}
	/* A certificate and key named on the command line never take the file's passphrase. */
	if (!o->given.tls_identity) {
		o->cert = config_string(cfg, "broker.cert");
		o->key = config_string(cfg, "broker.key");
		if (o->key && !o->given.pass && (s = config_string(cfg, "broker.passfile")))
			o->pass.file = s;
	}
	if (!o->given.tls_version && (s = config_string(cfg, "broker.tls_version")))
		tls_version(s, &o->tls_min_version);
	if (!o->given.insecure)
		config_boolean(cfg, "broker.insecure", &o->insecure);
	if (!o->given.retry_for && config_integer(cfg, "broker.retry_for", &n))
		o->retry_for = n;
	bool tls;
	if (!o->given.plain && config_boolean(cfg, "broker.tls", &tls))
		o->plain = !tls;
	if (o->plain) {
		/* The file's TLS keys are for when TLS is on; TLS flags with --no-tls are refused later. */
		if (!o->given.ca)
			o->cafile = o->capath = NULL;
		if (!o->given.tls_identity) {
			o->cert = o->key = NULL;
			if (!o->given.pass)
				o->pass = (struct passphrase_source)PASSPHRASE_SOURCE_NONE;
		}
		if (!o->given.port && !config_integer(cfg, "broker.port", &n))
			o->port = 1883;
	}
	return cfg;
}

/* TLS material */

/* A file the user named must exist and be readable before OpenSSL sees it. */
static void check_readable(const char *option, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		die(EXIT_CONFIG, "%s %s: %s", option, path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		die(EXIT_CONFIG, "%s %s: %s", option, path, strerror(errno));
	close(fd);
	if (S_ISDIR(st.st_mode))
		die(EXIT_CONFIG, "%s %s: %s", option, path, strerror(EISDIR));
}

struct key_request {
	const struct passphrase_source *pass;
	bool asked;
};

static int key_passphrase(char *buf, int size, int rwflag, void *data)
{
	(void)rwflag;
	struct key_request *req = data;
	char pass[PASSPHRASE_MAX + 2];
	req->asked = true;
	if (!passphrase_read(req->pass, pass, sizeof pass))
		return -1;
	size_t n = strlen(pass);
	if (n > (size_t)size)
		n = (size_t)size;
	memcpy(buf, pass, n);
	OPENSSL_cleanse(pass, sizeof pass);
	return (int)n;
}

/* The client's private key: any type TLS can use, of mode 0600 like every smqtt key. */
static EVP_PKEY *load_tls_key(const char *path, const struct passphrase_source *pass)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		die(EXIT_CONFIG, "--key %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		die(EXIT_CONFIG, "--key %s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		die(EXIT_CONFIG, "--key %s: %s", path, strerror(EISDIR));
	if (!S_ISREG(st.st_mode))
		die(EXIT_CONFIG, "--key %s: not a regular file", path);
	if (st.st_mode & 077)
		die(EXIT_CONFIG, "--key %s: accessible by group or others (mode %04o); run chmod 600 %s", path,
		    (unsigned)(st.st_mode & 07777), path);
	BIO *bio = BIO_new_fd(fd, BIO_CLOSE);
	if (!bio)
		die_ssl(EXIT_SYSTEM, "--key %s", path);
	struct key_request req = {pass, false};
	ERR_clear_error();
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, key_passphrase, &req);
	BIO_free(bio);
	if (!pkey) {
		bool have_pass = pass->file || pass->env || pass->fd >= 0;
		if (req.asked && !have_pass)
			die(EXIT_CONFIG, "--key %s: encrypted; give the passphrase with --passfile, --passenv or --passfd",
			    path);
		if (req.asked)
			die(EXIT_CONFIG, "--key %s: wrong passphrase or damaged key", path);
		die_ssl(EXIT_CONFIG, "--key %s: not a PEM private key", path);
	}
	return pkey;
}

static struct mqtt_link *link_of_ssl(const SSL *ssl)
{
	return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
}

/* Keep the first reason the broker's chain failed to verify; OpenSSL only says "certificate verify failed". */
static int verify_broker(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct mqtt_link *l = ssl ? link_of_ssl(ssl) : NULL;
	if (!ok && l && !l->why.verify[0]) {
		l->why.verify_error = X509_STORE_CTX_get_error(store);
		snprintf(l->why.verify, sizeof l->why.verify, "%s", X509_verify_cert_error_string(l->why.verify_error));
	}
	return ok;
}

/*
 * Keep the fatal alert the broker sent: it says why the broker refused us.
 * Only an alert read counts: the one OpenSSL sends itself (decode error on
 * an unexpected end of file) says nothing about the broker's reasons.
 * Note too whether the handshake completed, so that a connection cut later
 * is not reported as a failed handshake.
 */
static void watch_alerts(const SSL *ssl, int where, int value)
{
	struct mqtt_link *l = link_of_ssl(ssl);
	if (!l)
		return;
	if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT && (value >> 8) == SSL3_AL_FATAL && l->why.alert < 0)
		l->why.alert = value & 0xff;
	if (where & SSL_CB_HANDSHAKE_DONE)
		l->why.handshake_done = true;
}

static bool is_ip_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static SSL_CTX *tls_context_new(struct mqtt_link *l)
{
	const struct mqtt_options *o = l->opt;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		die_ssl(EXIT_SYSTEM, "setting up TLS");
	SSL_CTX_set_app_data(ctx, l);
	if (!SSL_CTX_set_min_proto_version(ctx, o->tls_min_version))
		die_ssl(EXIT_SYSTEM, "setting up TLS");

	if (o->cafile)
		check_readable("--cafile", o->cafile);
	if (o->capath) {
		struct stat st;
		if (stat(o->capath, &st) < 0)
			die(EXIT_CONFIG, "--capath %s: %s", o->capath, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			die(EXIT_CONFIG, "--capath %s: not a directory", o->capath);
	}
	if (o->cafile || o->capath) {
		ERR_clear_error();
		if (SSL_CTX_load_verify_locations(ctx, o->cafile, o->capath) != 1) {
			if (o->cafile)
				die_ssl(EXIT_CONFIG, "--cafile %s: no usable CA certificate", o->cafile);
			die_ssl(EXIT_CONFIG, "--capath %s: unusable", o->capath);
		}
		snprintf(l->ca_source, sizeof l->ca_source, "%s%s%s%s%s", o->cafile ? "--cafile " : "",
			 o->cafile ? o->cafile : "", o->cafile && o->capath ? ", " : "",
			 o->capath ? "--capath " : "", o->capath ? o->capath : "");
	} else {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1)
			die_ssl(EXIT_CONFIG, "loading the system's CA certificates");
		snprintf(l->ca_source, sizeof l->ca_source, "the system's CA certificates; see --cafile");
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_broker);
	/*
	 * Read as much as the socket holds in one system call, not a record
	 * header and then its body: a stream of small acknowledgements or
	 * messages is then a few reads, not two per packet. What is read ahead
	 * is not visible to poll(): mqtt_link_wait() asks OpenSSL first.
	 */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_info_callback(ctx, watch_alerts);
	if (!o->insecure) {
		/* Each SSL inherits this from the context: the broker's certificate must name the host we dial. */
		X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		int ok = is_ip_address(o->host) ? X509_VERIFY_PARAM_set1_ip_asc(param, o->host)
						: X509_VERIFY_PARAM_set1_host(param, o->host, 0);
		if (ok != 1)
			die_ssl(EXIT_USAGE, "-h %s: cannot be checked against a certificate", o->host);
	}

	if (o->cert) {
		check_readable("--cert", o->cert);
		ERR_clear_error();
		if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1)
			die_ssl(EXIT_CONFIG, "--cert %s: not a PEM certificate", o->cert);
		X509 *cert = SSL_CTX_get0_certificate(ctx);
		if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
			warning("warning: --cert %s: has expired; the broker will probably refuse it", o->cert);
		EVP_PKEY *key = load_tls_key(o->key, &o->pass);
		if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
			ERR_clear_error();
			die(EXIT_CONFIG, "--key %s: does not belong to --cert %s", o->key, o->cert);
		}
		EVP_PKEY_free(key);
	}
	return ctx;
}

/* The client id: -i, or else the certificate's common name. */
static char *settle_client_id(struct mqtt_link *l)
{
	if (l->opt->client_id)
		return xstrdup(l->opt->client_id);
	char cn[256];
	X509 *cert = l->opt->cert && l->tls ? SSL_CTX_get0_certificate(l->tls) : NULL;
	if (!cert)
		die(EXIT_USAGE, "no client id: give -i CLIENTID, or a client certificate with --cert and --key");
	if (!x509_common_name(cert, cn, sizeof cn) || mosquitto_validate_utf8(cn, (int)strlen(cn)) != MOSQ_ERR_SUCCESS)
		die(EXIT_CONFIG, "--cert %s: no single common name to use as client id; give -i CLIENTID",
		    l->opt->cert);
	return xstrdup(cn);
}

/* libmosquitto callbacks */

static void on_log(struct mosquitto *mosq, void *data, int level, const char *text)
{
	(void)mosq;
	struct mqtt_link *l = data;
	if (l->opt->debug)
		fprintf(stderr, "%s: debug: %s\n", error_progname(), text);
	/* "OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed" */
	if (level == MOSQ_LOG_ERR && strncmp(text, "OpenSSL Error", 13) == 0 && !l->why.tls[0]) {
		const char *reason = strrchr(text, ':');
		snprintf(l->why.tls, sizeof l->why.tls, "%s", reason ? reason + 1 : text);
		const char *code = strstr(text, "error:");
		if (code)
			l->why.tls_error = strtoul(code + 6, NULL, 16);
	}
}

static void on_connect(struct mosquitto *mosq, void *data, int rc, int flags, const mosquitto_property *props)
{
	(void)mosq;
	(void)props;
	struct mqtt_link *l = data;
	if (rc != 0) {
		if (l->why.connack < 0)
			l->why.connack = rc;
		return;
	}
	long long now = monotonic_ms();
	if (l->outage_started >= 0)
		warning("broker %s: %s after %.1f s", l->address, l->ever_up ? "reconnected" : "connected",
		      (double)(now - l->outage_started) / 1000);
	l->state = MQTT_UP;
	l->ever_up = true;
	l->outage_started = -1;
	l->up_since = now;
	mqtt_debug(l, "connected to %s as %s (session present: %s)", l->address, l->client_id,
		   flags & 1 ? "yes" : "no");
	if (l->handlers.connected)
		l->handlers.connected(l->ctx, flags & 1);
}

static void on_disconnect(struct mosquitto *mosq, void *data, int rc, const mosquitto_property *props)
{
	int saved = errno;
	(void)mosq;
	(void)props;
	struct mqtt_link *l = data;
	l->dropped = true;
	if (l->why.disconnect < 0) {
		l->why.disconnect = rc;
		l->why.saved_errno = saved;
	}
}

static void on_publish(struct mosquitto *mosq, void *data, int mid, int reason, const mosquitto_property *props)
{
	(void)mosq;
	(void)props;
	struct mqtt_link *l = data;
	if (l->handlers.published)
		l->handlers.published(l->ctx, mid, reason);
}

static void on_message(struct mosquitto *mosq, void *data, const struct mosquitto_message *msg,
		       const mosquitto_property *props)
{
	(void)mosq;
	(void)props;
	struct mqtt_link *l = data;
	if (l->handlers.message)
		l->handlers.message(l->ctx, msg);
}

static void on_subscribe(struct mosquitto *mosq, void *data, int mid, int count, const int *granted,
			 const mosquitto_property *props)
{
	(void)mosq;
	(void)props;
	struct mqtt_link *l = data;
	if (l->handlers.subscribed)
		l->handlers.subscribed(l->ctx, mid, count, granted);
}

/* The connection */

void mqtt_debug(const struct mqtt_link *l, const char *fmt, ...)
{
	if (!l->opt->debug)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: debug: %s\n", error_progname(), msg);
}

static void clear_clues(struct failure_clues *why)
{
	memset(why, 0, sizeof *why);
	why->alert = why->connack = why->disconnect = -1;
}

static struct mosquitto *instance_new(struct mqtt_link *l)
{
	const struct mqtt_options *o = l->opt;
	struct mosquitto *mosq = mosquitto_new(l->client_id, !l->session.persistent, l);
	if (!mosq)
		die(EXIT_SYSTEM, "creating an MQTT client: %s", strerror(errno));
	mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, o->protocol);
	/* Our SSL_CTX as is: libmosquitto's defaults would replace our verification. */
	if (l->tls) {
		mosquitto_void_option(mosq, MOSQ_OPT_SSL_CTX, l->tls);
		mosquitto_int_option(mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
	}
	mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
	if (l->session.send_maximum > 0)
		mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, l->session.send_maximum);
	if (l->session.receive_maximum > 0)
		mosquitto_int_option(mosq, MOSQ_OPT_RECEIVE_MAXIMUM, l->session.receive_maximum);
	/* Queue packets instead of writing them at once; mqtt_link_write() sends them. */
	mosquitto_threaded_set(mosq, true);
	mosquitto_log_callback_set(mosq, on_log);
	mosquitto_connect_v5_callback_set(mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(mosq, on_disconnect);
	mosquitto_publish_v5_callback_set(mosq, on_publish);
	mosquitto_message_v5_callback_set(mosq, on_message);
	mosquitto_subscribe_v5_callback_set(mosq, on_subscribe);
	return mosq;
}

struct mqtt_link *mqtt_link_new(const struct mqtt_options *o, const struct mqtt_session *s,
				const struct mqtt_handlers *h, void *ctx)
{
	if (o->plain && (o->given.ca || o->given.tls_identity || o->given.pass || o->given.tls_version || o->given.insecure))
		die(EXIT_USAGE, "--no-tls (or broker.tls: false): the TLS options --cafile, --capath, --cert, --key, "
				"--passfile, --passenv, --passfd, --tls-version and --insecure do not apply");
	if (o->plain && !o->client_id)
		die(EXIT_USAGE, "--no-tls: no client id: give -i CLIENTID");
	if (!o->cert != !o->key && !o->plain)
		die(EXIT_USAGE, "give --cert and --key together");
	if ((o->pass.file || o->pass.env || o->pass.fd >= 0) && !o->key)
		die(EXIT_USAGE, "a passphrase option was given without --key");
	if (!o->cert && !o->client_id)
		die(EXIT_USAGE, "no client id: give -i CLIENTID, or a client certificate with --cert and --key");
	mosquitto_lib_init();
	struct mqtt_link *l = xcalloc(1, sizeof *l);
	l->opt = o;
	l->session = *s;
	l->handlers = *h;
	l->ctx = ctx;
	snprintf(l->address, sizeof l->address, strchr(o->host, ':') ? "[%s]:%d" : "%s:%d", o->host, o->port);
	l->tls = o->plain ? NULL : tls_context_new(l);
	l->client_id = settle_client_id(l);
	if (o->plain)
		warning("warning: --no-tls: the connection to %s is neither encrypted nor authenticated", l->address);
	else if (o->insecure)
		warning("warning: --insecure: not checking that the broker's certificate names %s", o->host);
	l->state = MQTT_DOWN;
	l->backoff_ms = BACKOFF_FIRST_MS;
	l->outage_started = -1;
	clear_clues(&l->why);
	return l;
}

static void instance_free(struct mqtt_link *l)
{
	if (l->mosq)
		mosquitto_destroy(l->mosq);
	l->mosq = NULL;
}

void mqtt_link_free(struct mqtt_link *l)
{
	if (!l)
		return;
	instance_free(l);
	SSL_CTX_free(l->tls);
	free(l->client_id);
	free(l);
	mosquitto_lib_cleanup();
}

enum mqtt_state mqtt_link_state(const struct mqtt_link *l)
{
	return l->state;
}

const char *mqtt_link_address(const struct mqtt_link *l)
{
	return l->address;
}

const char *mqtt_link_client_id(const struct mqtt_link *l)
{
	return l->client_id;
}

int mqtt_link_failure(const struct mqtt_link *l)
{
	return l->exit_code;
}

void mqtt_link_fail(struct mqtt_link *l, int exit_code, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	warning("broker %s: %s", l->address, msg);
	bool was_up = l->state == MQTT_UP;
	/* This may run inside a libmosquitto callback: the instance is freed with the link. */
	l->state = MQTT_FAILED;
	l->exit_code = exit_code;
	if (was_up && l->handlers.lost)
		l->handlers.lost(l->ctx);
}

static const char *alert_name(int alert)
{
	if (alert == ALERT_CERTIFICATE_REQUIRED)
		return "certificate required";
	return SSL_alert_desc_string_long(alert);
}

/* Alerts by which a broker refuses the client's certificate or the TLS settings: retrying cannot help. */
static bool alert_is_about_certificate(int alert)
{
	switch (alert) {
	case SSL3_AD_HANDSHAKE_FAILURE:
	case SSL3_AD_BAD_CERTIFICATE:
	case SSL3_AD_UNSUPPORTED_CERTIFICATE:
	case SSL3_AD_CERTIFICATE_REVOKED:
	case SSL3_AD_CERTIFICATE_EXPIRED:
	case SSL3_AD_CERTIFICATE_UNKNOWN:
	case TLS1_AD_UNKNOWN_CA:
	case TLS1_AD_ACCESS_DENIED:
	case TLS1_AD_PROTOCOL_VERSION:
	case TLS1_AD_INSUFFICIENT_SECURITY:
	case ALERT_CERTIFICATE_REQUIRED:
		return true;
	default:
		return false;
	}
}

/* The broker's end of the connection closed without a TLS close_notify. */
static bool tls_cut_short(const struct failure_clues *why)
{
	return ERR_GET_LIB(why->tls_error) == ERR_LIB_SSL &&
	       ERR_GET_REASON(why->tls_error) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* Connection refusals worth waiting out; any other refusal needs a person. */
static bool refusal_is_temporary(const struct mqtt_link *l, int code)
{
	if (l->opt->protocol != MQTT_PROTOCOL_V5)
		return code == CONNACK_REFUSED_SERVER_UNAVAILABLE;
	return code == MQTT_RC_SERVER_UNAVAILABLE || code == MQTT_RC_SERVER_BUSY ||
	       code == MQTT_RC_QUOTA_EXCEEDED || code == MQTT_RC_CONNECTION_RATE_EXCEEDED;
}

/*
 * Turn what the callbacks saw into one sentence; *fatal when retrying cannot
 * help (a certificate, trust or authorization problem).
 */
static void explain(struct mqtt_link *l, int rc, int err, char *buf, size_t len, bool *fatal, int *code)
{
	const struct mqtt_options *o = l->opt;
	struct failure_clues *why = &l->why;
	*fatal = true;
	*code = EXIT_CONFIG;
	if (why->verify[0] && (why->verify_error == X509_V_ERR_HOSTNAME_MISMATCH ||
				why->verify_error == X509_V_ERR_IP_ADDRESS_MISMATCH)) {
		snprintf(buf, len, "TLS handshake failed: the broker's certificate is not valid for %s "
				   "(--insecure skips this check)", o->host);
	} else if (why->verify[0]) {
		snprintf(buf, len, "TLS handshake failed: certificate verify failed: %s (%s)", why->verify,
			 l->ca_source);
	} else if (why->alert == ALERT_CERTIFICATE_REQUIRED && !o->cert) {
		snprintf(buf, len, "TLS handshake failed: the broker requires a client certificate "
				   "(give --cert and --key)");
	} else if (why->alert == SSL3_AD_HANDSHAKE_FAILURE && !o->cert) {
		snprintf(buf, len, "TLS handshake failed: handshake failure (the broker may require a client "
				   "certificate: give --cert and --key)");
	} else if (why->alert == SSL_AD_PROTOCOL_VERSION) {
		snprintf(buf, len, "TLS handshake failed: no TLS version in common with the broker (this client "
				   "speaks TLS %s and later; see --tls-version)",
			 o->tls_min_version == TLS1_3_VERSION ? "1.3" : "1.2");
	} else if (alert_is_about_certificate(why->alert) && o->cert) {
		snprintf(buf, len, "TLS handshake failed: the broker refused the client certificate: %s (--cert %s)",
			 alert_name(why->alert), o->cert);
	} else if (alert_is_about_certificate(why->alert)) {
		snprintf(buf, len, "TLS handshake failed: the broker sent alert: %s", alert_name(why->alert));
	} else if (why->alert >= 0) {
		/* Not about who we are: worth another try (even a socket connected to itself gets here). */
		snprintf(buf, len, "TLS handshake failed: alert: %s", alert_name(why->alert));
		*fatal = false;
		*code = EXIT_SYSTEM;
	} else if (why->connack >= 0) {
		snprintf(buf, len, "connection refused by the broker: %s (client id %s)",
			 o->protocol == MQTT_PROTOCOL_V5 ? mosquitto_reason_string(why->connack)
							 : mosquitto_connack_string(why->connack),
			 l->client_id);
		*fatal = !refusal_is_temporary(l, why->connack);
	} else if (why->disconnect == MQTT_RC_SESSION_TAKEN_OVER && o->protocol == MQTT_PROTOCOL_V5) {
		snprintf(buf, len, "disconnected: another client connected with client id %s "
				   "(give each client its own -i)", l->client_id);
	} else if (why->disconnect >= 0x80 && o->protocol == MQTT_PROTOCOL_V5) {
		snprintf(buf, len, "disconnected by the broker: %s", mosquitto_reason_string(why->disconnect));
		*fatal = why->disconnect == MQTT_RC_NOT_AUTHORIZED || why->disconnect == MQTT_RC_BANNED;
	} else {
		*fatal = false;
		*code = EXIT_SYSTEM;
		if (rc == MOSQ_ERR_TIMEOUT)
			snprintf(buf, len, "no answer to CONNECT within %d s", o->keepalive);
		else if (rc == MOSQ_ERR_KEEPALIVE)
			snprintf(buf, len, "no answer within the keepalive interval (%d s)", o->keepalive);
		else if (rc == MOSQ_ERR_EAI)
			snprintf(buf, len, "cannot resolve host name %s", o->host);
		else if (tls_cut_short(why) && !why->handshake_done)
			/* mosquitto's plain listener reads a ClientHello as a bad CONNECT and hangs up. */
			snprintf(buf, len, "TLS handshake failed: the broker closed the connection without answering "
					   "(is port %d a plain MQTT listener, not a TLS one? see --no-tls)", o->port);
		else if (tls_cut_short(why))
			snprintf(buf, len, "connection closed by the broker without ending TLS (broker stopped "
					   "or killed?)");
		else if (rc == MOSQ_ERR_PROTOCOL && l->session.receives_qos2 && l->session.receive_maximum > 0 &&
			 o->protocol == MQTT_PROTOCOL_V5)
			snprintf(buf, len, "protocol error: the broker sent more QoS 2 messages than the receive "
					   "maximum of %d allows (mosquitto 2.0 does so once it holds a backlog)",
				 l->session.receive_maximum);
		else if (rc == MOSQ_ERR_PROTOCOL)
			snprintf(buf, len, "protocol error: the broker sent a packet MQTT does not allow here");
		else if (rc == MOSQ_ERR_TLS && why->tls[0] && !why->handshake_done)
			snprintf(buf, len, "TLS handshake failed: %s", why->tls);
		else if (why->tls[0])
			snprintf(buf, len, "connection lost: TLS: %s", why->tls);
		else if (rc == MOSQ_ERR_ERRNO && (why->saved_errno || err))
			snprintf(buf, len, "%s", strerror(why->saved_errno ? why->saved_errno : err));
		else if ((rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_SUCCESS) && o->plain &&
			 l->state == MQTT_CONNECTING)
			snprintf(buf, len, "connection closed by the broker before it answered CONNECT "
					   "(--no-tls: is this a TLS listener?)");
		else if (rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_SUCCESS)
			snprintf(buf, len, "connection closed by the broker");
		else
			snprintf(buf, len, "%s", mosquitto_strerror(rc));
	}
}

/* The connection (or attempt) is over: explain, then retry or give up. */
static void link_down(struct mqtt_link *l, int rc, int err)
{
	if (l->state == MQTT_CONNECTING && rc == MOSQ_ERR_ERRNO && err == EINTR) {
		/* A signal cut the TCP connect short: not the broker's doing; the caller sees the signal. */
		instance_free(l);
		l->state = MQTT_DOWN;
		return;
	}
	char reason[1200];
	bool fatal;
	int code;
	explain(l, rc, err, reason, sizeof reason, &fatal, &code);
	bool was_up = l->state == MQTT_UP;
	long long now = monotonic_ms();
	if (was_up && now - l->up_since >= STABLE_MS) {
		l->backoff_ms = BACKOFF_FIRST_MS;
		l->quick_closes = 0;
		l->protocol_errors = 0;
	} else if (was_up && strcmp(reason, "connection closed by the broker") == 0 && ++l->quick_closes >= 2) {
		/* mosquitto closes a connection taken over by a client with the same id without a word. */
		snprintf(reason, sizeof reason, "connection closed by the broker again after %.1f s (is another "
						"client connected with client id %s?)",
			 (double)(now - l->up_since) / 1000, l->client_id);
	}
	if (rc != MOSQ_ERR_PROTOCOL || fatal) {
		l->protocol_errors = 0;
	} else if (++l->protocol_errors >= PROTOCOL_ERRORS_MAX) {
		char last[sizeof reason];
		const char *way_out = l->session.receives_qos2 ? "; drain the backlog with -V 311, then subscribe at "
								 "QoS 1 (see QoS 2 in smqtt-sub(1))"
							       : "";
		snprintf(last, sizeof last, "%s", reason);
		snprintf(reason, sizeof reason, "giving up after %d protocol errors in a row: %.1000s%s", l->protocol_errors,
			 last, way_out);
		fatal = true;
		code = EXIT_SYSTEM;
	}
	mqtt_debug(l, "connection %s: %s (%s)", was_up ? "lost" : "failed", reason, mosquitto_strerror(rc));
	/* A socket libmosquitto left open (a timeout) or a queue we must not resend: start afresh. */
	if (l->session.fresh_per_connection || (l->mosq && mosquitto_socket(l->mosq) >= 0))
		instance_free(l);
	l->state = MQTT_DOWN;
	l->dropped = false;
	clear_clues(&l->why);
	if (was_up && l->handlers.lost)
		l->handlers.lost(l->ctx);
	if (fatal) {
		mqtt_link_fail(l, code, "%s", reason);
		return;
	}
	if (l->opt->retry_for == 0) {
		mqtt_link_fail(l, EXIT_SYSTEM, "%s", reason);
		return;
	}
	if (l->outage_started < 0) {
		l->outage_started = now;
		char limit[64] = "";
		if (l->opt->retry_for > 0)
			snprintf(limit, sizeof limit, " for up to %lld s", l->opt->retry_for);
		warning("broker %s: %s: %s; retrying%s", l->address, was_up ? "connection lost" : "cannot connect",
		      reason, limit);
	} else if (l->opt->retry_for > 0 && now - l->outage_started >= l->opt->retry_for * 1000) {
		mqtt_link_fail(l, EXIT_SYSTEM, "giving up after %lld s: %s", (now - l->outage_started) / 1000, reason);
		return;
	}
	l->next_attempt = now + l->backoff_ms;
	if (l->opt->retry_for > 0 && l->next_attempt > l->outage_started + l->opt->retry_for * 1000)
		l->next_attempt = l->outage_started + l->opt->retry_for * 1000;
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

/* After any libmosquitto call: did the connection end? */
static void check(struct mqtt_link *l, int rc)
{
	int err = errno;
	if (l->state != MQTT_UP && l->state != MQTT_CONNECTING)
		return;
	if (rc != MOSQ_ERR_SUCCESS || l->dropped || !l->mosq || mosquitto_socket(l->mosq) < 0)
		link_down(l, rc, err);
}

/*
 * libmosquitto hands every packet to SSL_write() on its own, so a stream of
 * small messages cost one write(2) per message. A buffer between TLS and
 * the socket gathers the records of a burst; tls_flush() sends them once the
 * burst is queued. Without the buffer (if it cannot be set up) every record
 * is written at once, as before: slower, not wrong.
 */
#define TLS_WRITE_BUFFER (64 * 1024)

static void tls_buffer_writes(struct mqtt_link *l)
{
	SSL *ssl = mosquitto_ssl_get(l->mosq);
	BIO *sock = ssl ? SSL_get_wbio(ssl) : NULL;
	if (!sock || BIO_method_type(sock) != BIO_TYPE_SOCKET)
		return;
	BIO *buf = BIO_new(BIO_f_buffer());
	if (!buf || BIO_set_write_buffer_size(buf, TLS_WRITE_BUFFER) <= 0 || !BIO_up_ref(sock)) {
		BIO_free(buf);
		ERR_clear_error();
		return;
	}
	/* The socket stays the read side; the chain owns the reference taken above. */
	SSL_set0_wbio(ssl, BIO_push(buf, sock));
}

/* Bytes of TLS records buffered and not yet written to the socket. */
static bool tls_unflushed(const struct mqtt_link *l)
{
	SSL *ssl = l->mosq && mosquitto_socket(l->mosq) >= 0 ? mosquitto_ssl_get(l->mosq) : NULL;
	BIO *w = ssl ? SSL_get_wbio(ssl) : NULL;
	return w && BIO_wpending(w) > 0;
}

static void tls_flush(struct mqtt_link *l)
{
	if ((l->state != MQTT_UP && l->state != MQTT_CONNECTING) || !tls_unflushed(l))
		return;
	BIO *w = SSL_get_wbio(mosquitto_ssl_get(l->mosq));
	errno = 0;
	if (BIO_flush(w) <= 0 && !BIO_should_retry(w)) {
		int err = errno;
		ERR_clear_error();
		link_down(l, MOSQ_ERR_ERRNO, err ? err : EPIPE);
	}
}

static void link_connect(struct mqtt_link *l)
{
	const struct mqtt_options *o = l->opt;
	if (!l->mosq)
		l->mosq = instance_new(l);
	clear_clues(&l->why);
	l->dropped = false;
	l->state = MQTT_CONNECTING;
	l->attempt_started = monotonic_ms();
	mosquitto_property *props = NULL;
	if (o->protocol == MQTT_PROTOCOL_V5 && l->session.persistent)
		mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, l->session.session_expiry);
	if (o->protocol == MQTT_PROTOCOL_V5 && l->session.maximum_packet_size)
		mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE, l->session.maximum_packet_size);
	mqtt_debug(l, "connecting to %s as %s", l->address, l->client_id);
	errno = 0;
	int rc = mosquitto_connect_bind_v5(l->mosq, o->host, o->port, o->keepalive, NULL, props);
	int err = errno;
	mosquitto_property_free_all(&props);
	if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_NOT_SUPPORTED || rc == MOSQ_ERR_NOMEM)
		die(EXIT_SYSTEM, "broker %s: cannot connect: %s", l->address, mosquitto_strerror(rc));
	if (rc != MOSQ_ERR_SUCCESS) {
		errno = err;
		check(l, rc);
		return;
	}
	tls_buffer_writes(l);
}

void mqtt_link_wait(struct mqtt_link *l, struct pollfd *fd, int timeout_ms)
{
	long long now = monotonic_ms();
	if (l->state == MQTT_DOWN && now >= l->next_attempt)
		link_connect(l);
	if (l->state == MQTT_CONNECTING && now - l->attempt_started > (long long)l->opt->keepalive * 1000)
		link_down(l, MOSQ_ERR_TIMEOUT, 0);

	struct pollfd fds[2];
	int n = 0, sock_at = -1, fd_at = -1;
	int sock = (l->state == MQTT_UP || l->state == MQTT_CONNECTING) ? mosquitto_socket(l->mosq) : -1;
	bool congested = false;
	if (sock >= 0) {
		bool pending = mosquitto_want_write(l->mosq) || tls_unflushed(l);
		/*
		 * What we have to send waits, and the socket takes no more: the
		 * broker is not reading. Read nothing until it does, as TCP's own
		 * flow control would have it. Otherwise a broker that streams a
		 * session's queued messages without reading our acknowledgements
		 * (mosquitto 2.0 does, for seconds) makes us read on and queue an
		 * acknowledgement in memory for each message: 15 MiB of them for a
		 * million. Once the connection is up only: the TLS handshake writes
		 * and reads in turn. A socket that is writable is never held back,
		 * so TLS wanting to read before it writes is served as before.
		 */
		if (pending && l->state == MQTT_UP) {
			struct pollfd w = {.fd = sock, .events = POLLOUT};
			congested = poll(&w, 1, 0) == 0;
		}
		fds[n] = (struct pollfd){.fd = sock, .events = congested ? 0 : POLLIN};
		if (pending)
			fds[n].events |= POLLOUT;
		sock_at = n++;
	}
	if (fd) {
		fd->revents = 0;
		if (fd->fd >= 0) {
			fds[n] = *fd;
			fd_at = n++;
		}
	}
	/* Wake at least once a second for keepalive and reconnection. */
	long long wait = timeout_ms < 0 || timeout_ms > 1000 ? 1000 : timeout_ms;
	if (l->state == MQTT_DOWN)
		wait = l->next_attempt - now < wait ? l->next_attempt - now : wait;
	if (wait < 0)
		wait = 0;
	/* Records OpenSSL has read ahead are ready now, whatever poll() says of the socket. */
	SSL *ssl = sock >= 0 ? mosquitto_ssl_get(l->mosq) : NULL;
	bool buffered = !congested && ssl && SSL_has_pending(ssl);
	if (buffered)
		wait = 0;
	int ready = poll(fds, (nfds_t)n, (int)wait);
	if (ready < 0) {
		if (errno == EINTR)
			return;
		die(EXIT_SYSTEM, "waiting for the broker: %s", strerror(errno));
	}
	if (fd_at >= 0)
		fd->revents = fds[fd_at].revents;
	/* Reading also carries the TLS handshake on, whichever way it waits. */
	short progress = POLLIN | POLLERR | POLLHUP | (l->state == MQTT_CONNECTING ? POLLOUT : 0);
	if (sock_at >= 0 && (buffered || (fds[sock_at].revents & progress)))
		check(l, mosquitto_loop_read(l->mosq, 1));
	if (l->state == MQTT_UP || l->state == MQTT_CONNECTING) {
		int rc = mosquitto_loop_misc(l->mosq);
		check(l, rc == MOSQ_ERR_NO_CONN ? MOSQ_ERR_SUCCESS : rc);
	}
	/* What reading or keeping alive produced (a PINGREQ, a TLS alert) goes out now. */
	tls_flush(l);
}

void mqtt_link_write(struct mqtt_link *l)
{
	if ((l->state == MQTT_UP || l->state == MQTT_CONNECTING) && mosquitto_socket(l->mosq) >= 0 &&
	    mosquitto_want_write(l->mosq))
		check(l, mosquitto_loop_write(l->mosq, 1));
	tls_flush(l);
}

void mqtt_link_close(struct mqtt_link *l)
{
	if (l->state == MQTT_UP && mosquitto_disconnect_v5(l->mosq, MQTT_RC_NORMAL_DISCONNECTION, NULL) == 0) {
		/* Write what is queued, DISCONNECT last; libmosquitto closes the socket after it. */
		long long deadline = monotonic_ms() + 2000;
		while (mosquitto_socket(l->mosq) >= 0 && (mosquitto_want_write(l->mosq) || tls_unflushed(l)) &&
		       monotonic_ms() < deadline) {
			if (mosquitto_want_write(l->mosq) && mosquitto_loop_write(l->mosq, 1) != MOSQ_ERR_SUCCESS)
				break;
			SSL *ssl = mosquitto_socket(l->mosq) >= 0 ? mosquitto_ssl_get(l->mosq) : NULL;
			if (ssl && BIO_flush(SSL_get_wbio(ssl)) <= 0 && !BIO_should_retry(SSL_get_wbio(ssl)))
				break;
			struct pollfd p = {.fd = mosquitto_socket(l->mosq), .events = POLLOUT};
			if (p.fd >= 0 && (mosquitto_want_write(l->mosq) || tls_unflushed(l)))
				poll(&p, 1, 100);
		}
	}
	mqtt_link_free(l);
}

int mqtt_publish(struct mqtt_link *l, const char *topic, const void *payload, size_t len, int qos, int *mid)
{
	if (l->state != MQTT_UP)
		return MOSQ_ERR_NO_CONN;
	return mosquitto_publish_v5(l->mosq, mid, topic, (int)len, payload, qos, false, NULL);
}

bool mqtt_subscribe(struct mqtt_link *l, char *const *filters, int count, int qos)
{
	if (l->state != MQTT_UP)
		return false;
	int options = l->opt->protocol == MQTT_PROTOCOL_V5 ? MQTT_SUB_OPT_SEND_RETAIN_NEW : 0;
	int rc = mosquitto_subscribe_multiple(l->mosq, NULL, count, filters, qos, options, NULL);
	if (rc == MOSQ_ERR_SUCCESS)
		return true;
	if (rc != MOSQ_ERR_NO_CONN)
		mqtt_link_fail(l, EXIT_USAGE, "subscribing: %s", mosquitto_strerror(rc));
	return false;
}
