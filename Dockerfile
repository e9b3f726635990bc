# The darkhook receiver sidecar: `darkhook receive --config …`, running as an unprivileged user.
# Build stage: compile TypeScript and the native modules (better-sqlite3; sodium-native is optional).
FROM node:24.19.0-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# --ignore-scripts: the package's own `prepare` (tsc) needs the sources, copied below; the native
# modules are then built from source here rather than fetched as prebuilt binaries.
RUN npm ci --ignore-scripts \
 && npm rebuild better-sqlite3 --build-from-source \
 && (npm rebuild sodium-native || echo "sodium-native unavailable: the WebAssembly E2E backend is used")
COPY core ./core
COPY pki ./pki
COPY connector ./connector
COPY receiver ./receiver
COPY fabric ./fabric
COPY cli ./cli
RUN npx tsc -p tsconfig.json \
 && rm -rf build/test build/bench build/.tsbuildinfo \
 && find build -name '*.map' -delete \
 && npm prune --omit=dev --ignore-scripts

# Runtime stage: Node, the compiled JavaScript and production node_modules; no compiler.
FROM node:24.19.0-bookworm-slim
ENV NODE_ENV=production \
    DARKHOOK_HEALTH_URL=http://127.0.0.1:9464/healthz
RUN groupadd --system --gid 10001 darkhook \
 && useradd --system --uid 10001 --gid darkhook --home-dir /data --shell /usr/sbin/nologin darkhook \
 && mkdir -p /data /identities /config \
 && chown darkhook:darkhook /data /identities \
 && chmod 0700 /data /identities
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/build ./build
RUN chmod 0755 build/cli/main.js && ln -s /app/build/cli/main.js /usr/local/bin/darkhook
USER darkhook
# The store (SQLite message log) and the Ziti identity files outlive the container.
VOLUME ["/data", "/identities"]
# The admin listener binds loopback only (the config checker refuses anything else), so the probe runs
# inside the container's network namespace; Node's fetch needs no curl in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.DARKHOOK_HEALTH_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["darkhook"]
CMD ["receive", "--config", "/config/receiver.json"]
