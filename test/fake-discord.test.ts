import { once } from 'node:events';
import { ButtonStyle, Client, ComponentType, Events, GatewayIntentBits, MessageFlags } from 'discord.js';
import type { Interaction, Message, TextChannel } from 'discord.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord } from './helpers/fake-discord.ts';

// A 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const intents = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages];

/** Resolves with the next event and the handler's result, rejecting if the handler throws. */
function handleNext<T>(client: Client, event: typeof Events.InteractionCreate, handler: (i: Interaction) => Promise<T>): Promise<T>;
function handleNext<T>(client: Client, event: typeof Events.MessageCreate, handler: (m: Message) => Promise<T>): Promise<T>;
function handleNext<T>(client: Client, event: string, handler: (arg: never) => Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => client.once(event, (arg) => handler(arg as never).then(resolve, reject)));
}

describe('FakeDiscord drives the real discord.js Client', () => {
  let fake: FakeDiscord;
  let client: Client;
  const extraClients: Client[] = [];

  beforeAll(async () => {
    // Discord's own heartbeat interval (41 s): a client that misses an acknowledgement on a busy machine would
    // reconnect mid-test. The first test checks heartbeats on a fake of its own that asks for them every 100 ms.
    fake = await FakeDiscord.start();
    client = new Client({ intents, rest: { api: fake.apiBase } });
    const ready = once(client, Events.ClientReady);
    await client.login(fake.token);
    await ready;
  });

  afterEach(async () => {
    // Clients that must not outlive a test; destroyed before the fake goes away.
    await Promise.all(extraClients.splice(0).map((c) => c.destroy()));
    fake.identifyCloseCode = null;
  });

  afterAll(async () => {
    await client?.destroy();
    await fake?.close();
  });

  it('logs in: READY user, GUILD_CREATE guild with channel, roles and members; heartbeats are acknowledged', async () => {
    expect(client.user?.id).toBe(fake.botUserId);
    expect(client.application?.id).toBe(fake.applicationId);
    const guild = client.guilds.cache.get(fake.guildId);
    expect(guild?.available).toBe(true);
    expect(guild?.channels.cache.get(fake.channelId)?.isTextBased()).toBe(true);
    expect(guild?.roles.everyone.id).toBe(fake.guildId);
    expect(guild?.members.cache.get(fake.users.alice.id)?.user.username).toBe('alice');
    expect(guild?.members.me?.permissions.has('AttachFiles')).toBe(true);
    const identify = fake.gatewayFrames.find((f) => f.op === 2)?.d as { intents: number };
    expect(identify.intents).toBe(GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages);
    expect(fake.requests[0]).toMatchObject({ method: 'GET', path: '/gateway/bot', status: 200 });

    const beating = await FakeDiscord.start({ heartbeatIntervalMs: 100 });
    const beater = new Client({ intents, rest: { api: beating.apiBase } });
    try {
      const ready = once(beater, Events.ClientReady);
      await beater.login(beating.token);
      await ready;
      await expect.poll(() => beater.ws.ping, { timeout: 10_000, interval: 20 }).toBeGreaterThanOrEqual(0);
      expect(beating.gatewayFrames.some((f) => f.op === 1)).toBe(true); // a heartbeat, acknowledged (the ping is measured on its ack)
    } finally {
      await beater.destroy();
      await beating.close();
    }
  });

  it('slash command with an attachment: defer, download from the CDN, editReply with a file and an embed', async () => {
    const payload = fake.chatInput({ name: 'dream', options: { preset: 'deep', steps: 3 }, attachments: { image: { filename: 'cat.png', bytes: PNG } } });
    const handled = handleNext(client, Events.InteractionCreate, async (interaction) => {
      if (!interaction.isChatInputCommand()) throw new Error('expected a chat input command');
      const image = interaction.options.getAttachment('image', true);
      const seen = { preset: interaction.options.getString('preset'), steps: interaction.options.getInteger('steps'), image };
      await interaction.deferReply();
      const bytes = Buffer.from(await (await fetch(image.url)).arrayBuffer());
      await interaction.editReply({
        content: 'Here is your dream',
        files: [{ attachment: bytes, name: 'x.png' }],
        embeds: [{ title: 'Dream', image: { url: 'attachment://x.png' } }],
      });
      return seen;
    });
    fake.dispatchInteraction(payload);
    const seen = await handled;

    expect(seen.preset).toBe('deep');
    expect(seen.steps).toBe(3);
    expect(seen.image).toMatchObject({ name: 'cat.png', size: PNG.length, contentType: 'image/png', width: 1, height: 1 });
    const [attachmentId] = Object.keys(payload.data.resolved?.attachments ?? {});
    expect(fake.fileRequests(seen.image.url)).toBe(1);
    expect(attachmentId).toMatch(/^\d{17,19}$/);

    const [callback] = fake.interactionCallbacks(payload.id);
    expect(callback).toMatchObject({ status: 204, json: { type: 5 } });
    expect(fake.ackLatencyMs(payload.id)).toBeGreaterThanOrEqual(0);
    expect(fake.ackLatencyMs(payload.id)).toBeLessThan(3000);

    const edit = await fake.waitForRequest((r) => r.method === 'PATCH' && r.path === `/webhooks/${fake.applicationId}/${payload.token}/messages/%40original`, {
      fromIndex: 0,
    });
    expect(edit.status).toBe(200);
    expect(edit.files).toHaveLength(1);
    expect(edit.files[0]).toMatchObject({ name: 'files[0]', filename: 'x.png' });
    expect(edit.files[0].bytes.equals(PNG)).toBe(true);
    expect(edit.json).toMatchObject({ content: 'Here is your dream', embeds: [{ title: 'Dream', image: { url: 'attachment://x.png' } }], attachments: [{ id: '0' }] });
    expect(edit.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(edit.headers.authorization).toBeUndefined(); // webhook routes are authorised by the interaction token

    // The stored reply points at the fake CDN, which serves the uploaded bytes back.
    const reply = fake.originalMessage(payload.id)!;
    expect(reply.flags).toBe(0); // Loading is cleared by the edit
    expect(reply.attachments[0].url.startsWith(fake.cdnBase)).toBe(true);
    expect(reply.embeds[0].image?.url).toBe(reply.attachments[0].url);
    expect(Buffer.from(await (await fetch(reply.attachments[0].url)).arrayBuffer()).equals(PNG)).toBe(true);
    expect(fake.unknownRequests()).toEqual([]);
  });

  it('button click: ephemeral reply and follow-up; a second acknowledgement is refused', async () => {
    const sent = await (client.channels.cache.get(fake.channelId) as TextChannel).send({
      content: 'Dream ready',
      components: [{ type: ComponentType.ActionRow, components: [{ type: ComponentType.Button, style: ButtonStyle.Primary, custom_id: 'again', label: 'Again' }] }],
    });
    const stored = fake.getMessage(fake.channelId, sent.id)!;
    expect(stored.components).toHaveLength(1);

    const payload = fake.button({ customId: 'again', message: stored, user: fake.users.bob });
    const handled = handleNext(client, Events.InteractionCreate, async (interaction) => {
      if (!interaction.isButton()) throw new Error('expected a button');
      await interaction.reply({ content: 'Only you can see this', flags: MessageFlags.Ephemeral });
      const second = await interaction.followUp('too').then(
        () => null,
        (e: Error) => e,
      );
      const again = await interaction.deferUpdate().then(
        () => null,
        (e: Error) => e,
      );
      return { customId: interaction.customId, userId: interaction.user.id, second, again };
    });
    fake.dispatchInteraction(payload);
    const result = await handled;

    expect(result).toMatchObject({ customId: 'again', userId: fake.users.bob.id, second: null });
    // discord.js itself refuses to acknowledge twice, before any request.
    expect(result.again?.message).toMatch(/already been sent or deferred/);
    expect(fake.interactionCallbacks(payload.id).map((r) => r.json)).toEqual([
      { type: 4, data: expect.objectContaining({ content: 'Only you can see this', flags: 64 }) },
    ]);
    const original = fake.originalMessage(payload.id)!;
    expect(original.flags).toBe(64);
    // The fake refuses a second acknowledgement too (for bots that bypass discord.js' guard).
    const raw = await fetch(`${fake.apiBase}/v10/interactions/${payload.id}/${payload.token}/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 6 }),
    });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toEqual({ message: 'Interaction has already been acknowledged.', code: 40060 });
    expect(fake.messagesIn().at(-1)?.content).toBe('too'); // the follow-up
  });

  it('message context menu on a user message with an image', async () => {
    const target = fake.message({ author: fake.users.bob, content: 'look', attachments: [{ filename: 'dog.jpg', bytes: PNG, contentType: 'image/png' }] });
    const payload = fake.messageContextMenu({ name: 'Dream this', target });
    const handled = handleNext(client, Events.InteractionCreate, async (interaction) => {
      if (!interaction.isMessageContextMenuCommand()) throw new Error('expected a message context menu command');
      await interaction.reply({ content: 'ok', withResponse: true });
      return { name: interaction.commandName, url: interaction.targetMessage.attachments.first()?.url, author: interaction.targetMessage.author.id };
    });
    fake.dispatchInteraction(payload);
    expect(await handled).toEqual({ name: 'Dream this', url: target.attachments[0].url, author: fake.users.bob.id });
    const [callback] = fake.interactionCallbacks(payload.id);
    expect(callback).toMatchObject({ status: 200, query: { with_response: 'true' } });
    expect(fake.fileRequests(target.attachments[0].url)).toBe(0); // discord.js never downloads attachments itself
  });

  it('MESSAGE_CREATE mentioning the bot arrives with content and reference; channel.send and fetch work', async () => {
    const original = fake.message({ author: fake.users.bob, content: 'my photo', attachments: [{ filename: 'p.png', bytes: PNG }] });
    fake.addMessage(original);
    const mention = fake.message({ content: 'dream this please', mentionsBot: true, referencedMessage: original });
    const handled = handleNext(client, Events.MessageCreate, async (message) => {
      const fetched = await message.channel.messages.fetch({ message: original.id, force: true });
      const reply = await message.reply('On it');
      const plain = await (message.channel as TextChannel).send('hello');
      return { message, fetched, reply, plain };
    });
    fake.dispatchMessage(mention);
    const { message, fetched, reply, plain } = await handled;

    expect(message.content).toBe(`<@${fake.botUserId}> dream this please`);
    expect(message.mentions.users.has(fake.botUserId)).toBe(true);
    expect(message.reference?.messageId).toBe(original.id);
    expect(fetched.attachments.first()?.name).toBe('p.png');
    expect(reply.reference?.messageId).toBe(message.id);
    expect(plain.content).toBe('hello');
    expect(fake.messagesIn().slice(-2).map((m) => m.content)).toEqual(['On it', 'hello']);
  });

  it('without the MessageContent intent, a message not mentioning the bot arrives blank', async () => {
    const handled = handleNext(client, Events.MessageCreate, async (message) => message);
    fake.dispatchMessage(fake.message({ content: 'secret', attachments: [{ filename: 'a.png', bytes: PNG }] }));
    const message = await handled;
    expect(message.content).toBe('');
    expect(message.attachments.size).toBe(0);
  });

  it('registers global and guild commands by bulk overwrite; ids are stable', async () => {
    const commands = await client.application!.commands.set([{ name: 'dream', description: 'Dream an image', options: [] }]);
    const guildCommands = await client.guilds.cache.get(fake.guildId)!.commands.set([{ name: 'dreamdebug', description: 'debug' }]);
    const again = await client.application!.commands.set([{ name: 'dream', description: 'Dream harder' }]);
    expect(commands.first()?.id).toBe(again.first()?.id);
    expect(fake.commandId('dream')).toBe(commands.first()?.id);
    expect(guildCommands.first()?.guildId).toBe(fake.guildId);
    expect(fake.registeredCommands().map((c) => c.description)).toEqual(['Dream harder']);
    expect(fake.registeredCommands(fake.guildId).map((c) => c.name)).toEqual(['dreamdebug']);
  });

  it('injected 500 and 429 are retried by discord.js', async () => {
    const channel = client.channels.cache.get(fake.channelId) as TextChannel;
    const from = fake.requests.length;
    fake.failNext({ method: 'POST', pathIncludes: `/channels/${fake.channelId}/messages` }, 500);
    fake.failNext({ method: 'POST', pathIncludes: `/channels/${fake.channelId}/messages` }, 429, { retryAfterSeconds: 0.2 });
    const started = Date.now();
    await channel.send('eventually');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(fake.requests.slice(from).map((r) => r.status)).toEqual([500, 429, 200]);

    fake.failNext({ pathIncludes: '/messages' }, 503, { times: 4 }); // one try + three retries
    await expect(channel.send('never')).rejects.toMatchObject({ status: 503 });
  });

  it('a wrong token makes login reject quickly (REST 401), and so does a gateway 4004', async () => {
    const wrong = new Client({ intents, rest: { api: fake.apiBase } });
    extraClients.push(wrong);
    const started = Date.now();
    await expect(wrong.login('not-the-token')).rejects.toThrow(/invalid token/i);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(fake.requests.at(-1)).toMatchObject({ path: '/gateway/bot', status: 401 });

    fake.identifyCloseCode = 4004;
    const rejected = new Client({ intents, rest: { api: fake.apiBase } });
    extraClients.push(rejected);
    await expect(rejected.login(fake.token)).rejects.toThrow(/authentication failed/i);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('CDN: delays, lies about Content-Length, counts requests', async () => {
    const slow = fake.serveFile('slow.png', PNG, 'image/png', { delayMs: 150 });
    const started = Date.now();
    expect((await fetch(slow)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    const chunked = fake.serveFile('chunked.bin', Buffer.alloc(1000), 'application/octet-stream', { lieContentLength: 'omit' });
    const res = await fetch(chunked);
    expect(res.headers.get('content-length')).toBeNull();
    expect((await res.arrayBuffer()).byteLength).toBe(1000);

    const short = fake.serveFile('short.bin', Buffer.alloc(1000), 'application/octet-stream', { lieContentLength: 10 });
    const shortRes = await fetch(short);
    expect(shortRes.headers.get('content-length')).toBe('10');
    expect((await shortRes.arrayBuffer()).byteLength).toBe(10);

    const long = fake.serveFile('long.bin', Buffer.alloc(10), 'application/octet-stream', { lieContentLength: 5000 });
    await expect(fetch(long).then((r) => r.arrayBuffer())).rejects.toThrow();

    expect(fake.fileRequests('slow.png')).toBe(1);
    expect(fake.fileRequests('never.png')).toBe(0);
    expect((await fetch(`${fake.cdnBase}missing.png`)).status).toBe(404);
  });

  it('interaction callbacks after the 3 s deadline are refused with Unknown interaction', async () => {
    const payload = fake.chatInput({ name: 'dream' });
    const handled = handleNext(client, Events.InteractionCreate, async (interaction) => {
      if (!interaction.isChatInputCommand()) throw new Error('expected a chat input command');
      fake.ackDeadlineMs = 0;
      await new Promise((r) => setTimeout(r, 5));
      return interaction.deferReply().then(
        () => null,
        (e: { code?: number }) => e.code,
      );
    });
    try {
      fake.dispatchInteraction(payload);
      expect(await handled).toBe(10062);
    } finally {
      fake.ackDeadlineMs = 3000;
    }
  });

  it('resumes after the gateway drops the connection', async () => {
    const resumed = once(client, Events.ShardResume);
    fake.disconnectGateway(4000);
    await resumed;
    const handled = handleNext(client, Events.MessageCreate, async (m) => m.content);
    fake.dispatchMessage(fake.message({ content: 'still here', mentionsBot: true }));
    expect(await handled).toBe(`<@${fake.botUserId}> still here`);
  });
});
