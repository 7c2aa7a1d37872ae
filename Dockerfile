# A static, non-root image of the gateway. Build: docker build -t legacy-auth-gateway .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gateway ./cmd/gateway \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
ENV GATEWAY_LISTEN=:8080 \
    GATEWAY_DATA_DIR=/data \
    GATEWAY_ADMIN_LISTEN=127.0.0.1:9090 \
    GATEWAY_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/gateway", "healthcheck", "http://127.0.0.1:9090/healthz"]
ENTRYPOINT ["/gateway"]
