# chaoskit's Toxiproxy-compatible proxy (`chaoskit proxy serve`) on chaoskit's local base image; build from the
# repository root with scripts/build-images.sh. The proxy and the CLI entry need only the standard library and
# click (Debian's python3-click, in the base image).
ARG BASE=chaoskit-base:bookworm
FROM ${BASE}
LABEL chaoskit.image=proxy
WORKDIR /app
COPY chaoskit /app/chaoskit
USER 65534:65534
EXPOSE 8474
CMD ["python3", "-m", "chaoskit", "proxy", "serve", "--host", "0.0.0.0", "--port", "8474"]
