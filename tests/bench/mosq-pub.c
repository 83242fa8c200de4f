/*
 * Benchmark anchor for smqtt-pub at QoS 1: a plain libmosquitto publisher
 * that does what a careful application does and nothing more. It reads one
 * message per line on stdin, publishes each to TOPIC, keeps at most WINDOW
 * messages sent and not yet acknowledged (smqtt-pub's --inflight), and exits
 * only once every message is acknowledged (PUBACK) or the broker is gone.
 * mosquitto_pub -l cannot serve: it exits before its last messages are
 * acknowledged. Prints "SENT ACKED" on stdout. Built and used by
 * tests/bench/mqtt.sh only.
 *
 *     mosq-pub HOST PORT CAFILE CERT KEY TOPIC WINDOW PROTOCOL(5|311) < lines
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static long outstanding, acked;
static int connected; /* 0 connecting, 1 up, -1 refused or gone */

static void fatal(const char *what, int rc)
{
	fprintf(stderr, "mosq-pub: %s: %s\n", what, mosquitto_strerror(rc));
	exit(1);
}

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
	(void)m, (void)arg;
	pthread_mutex_lock(&lock);
	connected = rc == 0 ? 1 : -1;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
	(void)m, (void)arg, (void)rc;
	pthread_mutex_lock(&lock);
	connected = -1;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
	(void)m, (void)arg, (void)mid;
	pthread_mutex_lock(&lock);
	outstanding--;
	acked++;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv)
{
	if (argc != 9) {
		fprintf(stderr, "usage: mosq-pub HOST PORT CAFILE CERT KEY TOPIC WINDOW PROTOCOL(5|311) < lines\n");
		return 2;
	}
	const char *host = argv[1], *cafile = argv[3], *cert = argv[4], *key = argv[5], *topic = argv[6];
	int port = atoi(argv[2]), window = atoi(argv[7]);
	int protocol = strcmp(argv[8], "5") == 0 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311;
	if (port <= 0 || window <= 0)
		return 2;

	mosquitto_lib_init();
	struct mosquitto *m = mosquitto_new(NULL, true, NULL);
	if (!m)
		fatal("mosquitto_new", MOSQ_ERR_NOMEM);
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, protocol);
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	/* libmosquitto holds back QoS 1 messages beyond its own limit (20): lift it to the window. */
	mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, window);
	mosquitto_max_inflight_messages_set(m, (unsigned int)window);
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_disconnect_callback_set(m, on_disconnect);
	mosquitto_publish_callback_set(m, on_publish);
	int rc;
	if (strcmp(cafile, "-") != 0 && (rc = mosquitto_tls_set(m, cafile, NULL, cert, key, NULL)) != MOSQ_ERR_SUCCESS)
		fatal("TLS setup", rc);
	if ((rc = mosquitto_connect(m, host, port, 60)) != MOSQ_ERR_SUCCESS)
		fatal("connecting", rc);
	if ((rc = mosquitto_loop_start(m)) != MOSQ_ERR_SUCCESS)
		fatal("starting the network thread", rc);
	pthread_mutex_lock(&lock);
	while (connected == 0)
		pthread_cond_wait(&changed, &lock);
	pthread_mutex_unlock(&lock);
	if (connected < 0)
		fatal("connecting", MOSQ_ERR_CONN_REFUSED);

	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long sent = 0;
	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (line[len - 1] == '\n')
			len--;
		pthread_mutex_lock(&lock);
		while (outstanding >= window && connected > 0)
			pthread_cond_wait(&changed, &lock);
		bool up = connected > 0;
		if (up)
			outstanding++;
		pthread_mutex_unlock(&lock);
		if (!up)
			break;
		if ((rc = mosquitto_publish(m, NULL, topic, (int)len, line, 1, false)) != MOSQ_ERR_SUCCESS)
			fatal("publishing", rc);
		sent++;
	}
	pthread_mutex_lock(&lock);
	while (outstanding > 0 && connected > 0)
		pthread_cond_wait(&changed, &lock);
	pthread_mutex_unlock(&lock);
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, false);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	free(line);
	printf("%ld %ld\n", sent, acked);
	return acked == sent ? 0 : 1;
}
