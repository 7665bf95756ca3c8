# Herald's image: one `herald` binary for both daemons (the chart runs `herald controller` and
# `herald speaker`). Build: docker build -t ghcr.io/herald-lb/herald:$(node -p "require('./package.json').version") .

# --- build: TypeScript -> dist/, the N-API addons of binding.gyp -> build/Release/ --------------
FROM node:20-slim AS build
# Toolchain for node-gyp (our addons and raw-socket's install script).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# The image ships Node's headers: node-gyp uses them instead of downloading any.
ENV npm_config_nodedir=/usr/local
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY binding.gyp tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY allocator ./allocator
COPY controller ./controller
COPY speaker ./speaker
COPY protocols ./protocols
COPY config ./config
COPY kube ./kube
RUN node /usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js rebuild --nodedir=/usr/local --loglevel=warn \
 && npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev

# --- runtime: Node, the compiled JavaScript, production modules and the addons; nothing else ----
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/build/Release/herald_tcp_md5.node /src/build/Release/herald_packet_socket.node /src/build/Release/herald_bfd_udp.node /src/build/Release/herald_malloc_trim.node ./build/Release/
# The image's `node` user, numeric so Kubernetes can check runAsNonRoot. The speaker's Pod runs
# as uid 0 with only NET_RAW (see charts/herald/templates/speaker.yaml); the controller as this user.
USER 1000:1000
EXPOSE 7472 7473
ENTRYPOINT ["node", "/app/dist/cli/herald.js"]
CMD ["--help"]
