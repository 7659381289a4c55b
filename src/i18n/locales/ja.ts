import { readFileSync } from 'node:fs';
import type { IntensityId, Language } from '../catalog.ts';
import { formatters } from '../format.ts';

const f = formatters('ja', { durationUnits: 'short', padSeconds: false, durationJoin: ' ' });
const IMAGE_FORMATS = 'JPEG、PNG、WebP、GIF、AVIF、TIFF';
const quoted = (s: string) => `「${s}」`;
const INTENSITY_NAMES: Record<IntensityId, string> = { low: '弱', medium: '中', high: '強', nightmare: '悪夢' };
const DREAM_MENU = 'ドリーム';
const upTo = (fraction: number) => f.percent(Math.floor(fraction * 100) / 100);
/** ImageNet's 1000 classes in Japanese, by WordNet id. */
const IMAGENET = JSON.parse(readFileSync(new URL('../imagenet/ja.json', import.meta.url), 'utf8')) as Record<string, string>;

/** 日本語: Discord の `ja` ロケールのメンバー向け。丁寧で短い、Discord らしい口調で。 */
const ja: Language = {
  tag: 'ja',
  format: f,
  discordLocales: ['ja'],
  // Hiragana, katakana and kanji: a mention written with them is answered in Japanese.
  script: /[\u3040-\u30ff\u4e00-\u9fff]/,
  messages: {
    queue: {
      waiting: (position, eta) => `⏳ 順番待ち：${f.number(position)} 番目（${eta <= 0 ? 'まもなく開始' : `開始まで約 ${f.duration(eta)}`}）`,
      dreaming: (p) => `🌀 ドリーム中… オクターブ ${p.octave}/${p.octaves}・ステップ ${p.step}/${p.steps}・${upTo(p.fraction)}・残り約 ${f.duration(p.etaSeconds)}`,
      animating: (p) => `🎞️ アニメーション作成中… フレーム ${p.frame}/${p.frames}・${upTo(p.fraction)}${p.etaSeconds === undefined ? '' : `・残り約 ${f.duration(p.etaSeconds)}`}`,
    },
    buttons: { cancel: 'キャンセル', deeper: 'もっと深く', reroll: 'リロール', explain: 'AIの視点', animate: 'アニメ化', delete: '削除' },
    end: {
      cancelled: '🚫 キャンセルしました。',
      crashed: '⚠️ この画像の処理中にドリームワーカーが止まってしまいました。もう一度お試しください。',
      failed: '⚠️ この画像の処理中に問題が起きました（サイズを小さくしてもうまくいきませんでした）。もう一度お試しください。',
      notRun: '⚠️ ボットが再起動中のため、このドリームは実行されませんでした。1分ほどしてからもう一度お試しください。',
      diedTwice: '⚠️ この画像の処理中にドリームワーカーが2回続けて止まったため、中止しました。もう一度お試しください。',
    },
    list: (items) => f.list(items),
    classNames: IMAGENET,
    refusedJob: (sentence) => `⚠️ ${sentence}`,
    ready: {
      dream: (who) => `${who} さん、ドリームができあがりました！`,
      animation: (who) => `${who} さん、アニメーションができあがりました！`,
      explain: (who) => `${who} さん、AIに見えているものはこちらです。`,
    },
    intensities: {
      low: { name: INTENSITY_NAMES.low, summary: '軽め（うずまきと目が現れはじめる）' },
      medium: { name: INTENSITY_NAMES.medium, summary: '定番（目、毛並み、犬の顔）' },
      high: { name: INTENSITY_NAMES.high, summary: '一面に犬の顔とアーチがびっしり' },
      nightmare: { name: INTENSITY_NAMES.nightmare, summary: '元の写真は跡形もなく' },
    },
    seedWord: 'シード',
    layerPresets: {
      classic: '目、毛並み、犬の顔',
      swirls: 'うずまきと小さな目',
      brushwork: '細かな筆づかいと質感',
      creatures: '大きめの動物のパーツ',
    },
    channels: {
      'mixed1:100': '色とりどりの細かなモザイク',
      'mixed2:250': '斜めに流れる筆づかい',
      'mixed3:20': '編みかごのような網目',
      'mixed3:150': '垂れ下がるドレープ',
      'mixed3:400': 'つややかな泡',
      'mixed3:600': '斜めのひだ',
      'mixed4:97': '光る星の網',
      'mixed4:200': '大きくうねるひだ',
      'mixed4:300': '同心円のうずまき',
      'mixed4:400': 'ひしめく小さな顔',
      'mixed5:100': 'やわらかな肉のかたまり',
      'mixed5:600': '輪になった目',
    },
    models: { inception_v3: 'InceptionV3：目、毛並み、犬の顔', darknet_tiny: 'Darknet tiny：細かく鮮やかな模様' },
    imageNetClass: 'ImageNet のクラス',
    recipe: {
      fields: {
        model: 'モデル',
        layers: 'レイヤー',
        intensity: '強さ',
        octaves: 'オクターブ × ステップ',
        stepSize: 'ステップ幅',
        octaveScale: 'オクターブ倍率',
        seed: 'シード',
        size: 'サイズ',
        backend: 'バックエンド',
        time: '所要時間',
        style: 'スタイル',
        target: '育てるクラス',
        guide: 'ガイド',
        guideLayer: 'ガイドのレイヤー',
        soft: 'ソフト',
      },
      title: (intensity, style) => `DeepDream・${INTENSITY_NAMES[intensity]}${style ? `・${style.name}：${style.target}` : ''}`,
      guideLink: 'ガイド画像',
      seconds: (s) => `${f.fixed(s, 1)} 秒`,
      footer: 'タイトルから元の画像を開けます。同じレシピ＋同じシードなら同じドリームになります。',
    },
    zoom: {
      title: (intensity) => `DeepDream ズーム・${INTENSITY_NAMES[intensity]}`,
      frames: (shown, made) => (shown === made ? f.number(made) : `${f.number(made)} 枚中 ${f.number(shown)} 枚`),
      perFrame: (zoom) => `1フレームあたり ${f.number(zoom, 3)} 倍`,
      fields: { intensity: '強さ', frames: 'フレーム数', zoom: 'ズーム', seed: 'シード', size: 'サイズ', time: '所要時間', fitted: 'アップロード上限に収めるための調整' },
      gaveUp: {
        dithering: 'ディザリングなし',
        colours: (n) => `${f.number(n)} 色に減色`,
        quality: (q) => `画質 ${f.number(q)}`,
        scaledTo: (w, h) => `${w}×${h} に縮小`,
        frames: (kept, made) => `${f.number(made)} フレームを ${f.number(kept)} フレームに間引き`,
      },
      footer: 'タイトルから元の画像を開けます。同じ画像＋同じシードなら同じアニメーションになります。',
    },
    explain: {
      score: (label, p) => `${label} ${f.percent(p)}`,
      before: 'ドリーム前：',
      after: 'ドリーム後：',
      whereItSees: (label) => `${quoted(label)}が見えている場所`,
      legend: { low: '根拠なし', high: '強い根拠' },
      titleOne: (label) => `AIの視点・${label}`,
      titlePair: (before, after) => `AIの視点・${before} → ${after}`,
      classifierImageNet: 'Darknet（ImageNet、1000クラス）',
      classifierStyle: (style) => `スタイル ${style}`,
      topLabel: '最上位のラベル',
      quoted,
      description: (classifier, heatOf) => `${classifier} による Grad-CAM：暖かい色の部分ほど、${heatOf}の強い根拠になっています。`,
      fields: { before: 'ドリーム前', after: 'ドリーム後', top5: '上位5件', model: 'モデル' },
      footer: 'DeepDream はネットワークが好むものを育て、Grad-CAM はネットワークがどこを見ているかを示します。',
    },
    refusals: {
      queueFull: (waiting, eta) => `キューがいっぱいです（${f.number(waiting)} 件待ち）。約 ${f.number(Math.max(1, Math.round(eta / 60)))} 分後にもう一度お試しください。`,
      userLimit: (limit) => `すでに ${f.number(limit)} 件のドリームがキューに入っています。どれかが終わるまでお待ちください。`,
      closed: 'ボットが再起動中のため、いまはドリームを受け付けていません。1分ほどしてからもう一度お試しください。',
      unavailable: 'いまはドリームのキューを利用できません。1分ほどしてからもう一度お試しください。',
      nsfw: 'この画像は露骨な内容に見えるため、ここでは使えません。年齢制限のあるチャンネルでお願いします。',
      requestFailed: 'リクエストの処理中に問題が起きました。もう一度お試しください。',
      handlerFailed: 'ボット側で問題が起きました。もう一度お試しください。',
      restarting: 'ボットが再起動中です。1分ほどしてからもう一度お試しください。',
      notOwner: 'これは他のメンバーのドリームです。キャンセルできるのは依頼した本人だけです。',
      notYourResult: 'これを削除できるのは、依頼した本人か「メッセージの管理」権限を持つモデレーターだけです。',
      alreadyFinished: 'このドリームはすでに完了しています。',
      oldButton: 'このボタンは古いバージョンのボットのものです。もう一度 /ドリーム を実行してください。',
      lostRecipe: 'このドリームのレシピが読み取れなくなりました。もう一度 /ドリーム を実行してください。',
      noImageToDream: 'このメッセージにはドリームにできる画像がありません。',
      noImageToExplain: 'このメッセージには解説できる画像がありません。',
      noImageInMention: `画像が見つかりません。画像を添付するか、画像付きのメッセージに返信する形で私をメンションしてください（それでも見つからないときは、そのメッセージの「アプリ」→「${DREAM_MENU}」を使ってください）。${Object.values(INTENSITY_NAMES).map(quoted).join('')}や「シード 42」を書き添えると、強さやシードを指定できます。`,
      aboutGuide: (sentence) => `ガイド画像：${sentence}`,
    },
    styles: {
      none: 'カスタムスタイルはまだありません。ボットの運営者が、写真を集めたフォルダを使って `npm run train` で学習させられます（詳しくは README を参照）。',
      title: '悪夢スタイル一覧',
      description: '`/ドリーム 画像:… スタイル:<名前> ターゲット:<クラス>` で使えます。',
      entry: (s) =>
        `クラス：${s.classes.join('、')}\n検証精度：${f.percent(s.accuracy)}${s.trained ? `・学習日：${f.date(s.trained)}` : ''}` +
        (s.fineTuned?.length ? `\n微調整済み：${s.fineTuned.join('、')}（自身の ${s.fineTuned.join('、')} でドリーム。クラスを育てるには ターゲット:<クラス> を追加）` : ''),
    },
    errors: {
      'image.not-on-discord': () => '使えるのは Discord にアップロードされた画像だけです。この画像は Discord の外にあります。',
      'image.file-too-large': (p) => `このファイルは ${f.bytes(p.bytes)} です。受け付けられるのは ${f.bytes(p.max)} までです。`,
      'image.download-too-large': (p) => `このファイルは上限の ${f.bytes(p.max)} を超えています。`,
      'image.not-an-image-type': (p) => `このファイルは画像ではありません（${p.type}）。`,
      'image.download-failed': (p) => `画像をダウンロードできませんでした${p.status === undefined ? '' : `（HTTP ${p.status}）`}。`,
      'image.download-slow': (p) => `画像のダウンロードに ${f.number(p.seconds)} 秒以上かかったため、中止しました。`,
      'image.empty': () => 'このファイルは空です。',
      'image.unreadable': () => `このファイルは読み込める画像ではありません（対応形式：${IMAGE_FORMATS}）。`,
      'image.damaged': () => 'この画像は壊れているか不完全なようで、読み込めません。',
      'image.too-many-pixels': (p) =>
        `画像が大きすぎます。${p.width}×${p.height}（${f.fixed((p.width * p.height) / 1e6, 1)} メガピクセル）で、上限は ${f.fixed(p.limit / 1e6, 1)} メガピクセルです。`,
      'image.animation-too-large': (p) =>
        `アニメーションが大きすぎます。${p.width}×${p.height} のフレーム ${p.frames} 枚で ${f.fixed((p.frames * p.width * p.height) / 1e6, 1)} メガピクセルになり、上限は ${f.fixed(p.limit / 1e6, 1)} メガピクセルです。`,
      'image.heic': () => 'この HEIC 写真は読み込めない圧縮形式で保存されています。JPEG か PNG に変換して送ってください。',
      'style.unknown': (p) => `${quoted(p.style)}というスタイルはありません。使えるスタイル：${p.installed.length ? p.installed.join('、') : 'まだありません（npm run train で学習できます）'}。`,
      'style.not-a-style': (p) => `モデル ${p.model} はスタイルではないため、ターゲットにできるクラスがありません（スタイルは npm run train で学習できます）。`,
      'style.unknown-class': (p) => `スタイル ${p.style} に${quoted(p.target)}というクラスはありません。使えるクラス：${p.classes.join('、')}。`,
      'label.out-of-range': (p) => `クラス番号 ${p.target} は ${p.model} の範囲外です（0〜${p.count - 1}）。`,
      'label.empty': (p) => `${p.model} で解説するクラスを指定してください。`,
      'label.ambiguous': (p) => `${quoted(p.target)}は ${p.model} では複数のクラスに当てはまります。${f.list(p.options.map(quoted), 'or')}を指定してください。`,
      'label.unknown': (p) => `${p.model} に${quoted(p.target)}というクラスはありません。${p.close.length ? `近い候補：${p.close.join('、')}。` : '似た名前のクラスもありません。'}`,
      'channel.bad': (p) => `${quoted(p.value)}は ${p.model} のレイヤーでも「レイヤー:チャンネル」でもありません（レイヤー：${p.layers.join('、')}。例：${p.layers[p.layers.length - 1]}:97）。`,
      'channel.out-of-range': (p) => `レイヤー ${p.layer} のチャンネルは ${p.count} 個（0〜${p.count - 1}）です。チャンネル ${p.channel} はありません。`,
      'channel.silent': (p) => `チャンネル ${p.channels.join('、')} はこの画像ではまったく反応しないため、育てるものがありません。別のチャンネルかレイヤー全体を選んでください。`,
      'model.unknown': (p) => `ドリームモデル${quoted(p.model)}はここにはありません。使えるモデル：${p.installed.join('、')}。`,
      'style.wrong-trunk': (p) => `スタイル${quoted(p.style)}は ${p.trunk} で学習されたもので、${p.model} では使えません。モデルを指定しないか、${p.trunk} を指定してください。`,
      'style.is-a-model': (p) => `${quoted(p.style)}はモデルで、スタイルではありません。`,
    },
    commands: {
      dream: {
        name: 'ドリーム',
        description: '画像を DeepDream の悪夢に変えます',
        options: {
          image: { name: '画像', description: `ドリームにする画像（${IMAGE_FORMATS}）` },
          intensity: { name: '強さ', description: 'ドリームの深さ（既定：中）' },
          layers: { name: 'レイヤー', description: 'ドリームの中で育つもの（既定：強さに応じて選択）' },
          seed: { name: 'シード', description: '同じ画像＋同じシードなら同じドリームになります' },
          style: { name: 'スタイル', description: 'このサーバーの写真で学習したスタイル（/スタイル一覧 を参照）' },
          target: { name: 'ターゲット', description: '育てる ImageNet のクラス（金魚、クラゲ…）、またはスタイルのクラス' },
          guide: { name: 'ガイド', description: 'ドリームの中で特徴を育てる画像（ガイド付きドリーム）' },
          channel: { name: 'チャンネル', description: 'ネットワークの1チャンネルを育てます（例：mixed4:97）。レイヤーとの組み合わせも可' },
          soft: { name: 'ソフト', description: 'やわらかく大きな形に（ラプラシアンピラミッド正規化）' },
          model: { name: 'モデル', description: 'ドリームを見るネットワーク（既定：InceptionV3）' },
        },
      },
      zoom: {
        name: 'ズーム',
        description: '画像を終わりのない DeepDream ズームのアニメーションにします（ループ GIF）',
        options: {
          image: { name: '画像', description: `アニメーションにする画像（${IMAGE_FORMATS}）` },
          frames: { name: 'フレーム数', description: 'アニメーションのフレーム数。多いほど時間がかかります' },
          zoom: { name: 'ズーム率', description: '1フレームあたりのズーム倍率' },
          intensity: { name: '強さ', description: '各フレームのドリームの強さ（既定：中）' },
          seed: { name: 'シード', description: '同じ画像＋同じシードなら同じアニメーションになります' },
          target: { name: 'ターゲット', description: '各フレームで育てる ImageNet のクラス（金魚、クラゲ…）' },
          channel: { name: 'チャンネル', description: 'ネットワークの1チャンネルを育てます（例：mixed4:97）' },
          soft: { name: 'ソフト', description: 'やわらかく大きな形に（ラプラシアンピラミッド正規化）' },
        },
      },
      explain: {
        name: '解説',
        description: 'ニューラルネットワークが画像のどこに何を見ているかを表示します（Grad-CAM ヒートマップ）',
        options: {
          image: { name: '画像', description: `解説する画像（${IMAGE_FORMATS}）` },
          target: { name: 'ラベル', description: 'このラベルの根拠を色で示します（既定：最上位のラベル）' },
          style: { name: 'スタイル', description: 'このサーバーの写真で学習したスタイルで解説します（/スタイル一覧 を参照）' },
        },
      },
      styles: { name: 'スタイル一覧', description: 'ドリームに使えるカスタム悪夢スタイルの一覧を表示します' },
      withDefault: (description, value) => `${description}（既定：${f.number(value, 3)}）`,
      dreamMenu: DREAM_MENU,
      explainMenu: 'AIの視点',
      zoomIntensity: (intensity, octaves, steps) => `${INTENSITY_NAMES[intensity]}：1フレームあたり ${octaves} オクターブ × ${steps} ステップ`,
    },
    community: {
      commands: {
        settings: {
          name: '設定',
          description: 'このサーバーのドリーム設定（サーバー管理権限が必要）',
          show: { name: '表示', description: 'このサーバーの設定と直近 7 日間の記録を表示します' },
          safety: { name: '安全', description: '露骨な画像の扱い（ボット全体の設定より優先）', policy: { name: '方針', description: 'ブロック・スポイラー・オフ' } },
          dailyLimit: { name: '1日の上限', description: 'メンバー 1 人が 1 日にドリームできる回数（ズームはそのコスト分）', dreams: { name: '回数', description: '1 日の回数（0 で無制限）' } },
          intensity: { name: '強度', description: '指定がないときのドリームの強度', default: { name: '既定', description: '既定の強度' } },
          mentions: { name: 'メンション', description: '画像にメンションしたらドリームするかどうか', enabled: { name: '有効', description: 'オンかオフ' } },
          channels: { name: 'チャンネル範囲', description: 'すべてのチャンネルで動くか、登録したチャンネルだけか', mode: { name: 'モード', description: 'すべて・登録のみ' } },
          channel: {
            name: 'チャンネル',
            description: '登録モードで使うチャンネルを開く・閉じる',
            channel: { name: 'チャンネル', description: '対象のチャンネル' },
            allowed: { name: '許可', description: '開く（true）か閉じる（false）' },
          },
        },
        quota: { name: '残り回数', description: '今日あと何回ドリームできるかを表示します' },
        policies: { block: 'ブロック：露骨な画像を断る', spoiler: 'スポイラー：ドリームしてスポイラーで投稿', off: 'オフ：確認しない' },
        modes: { everywhere: 'すべてのチャンネル', listed: '登録したチャンネルのみ' },
      },
      notManager: 'このサーバーの設定を変えられるのは、サーバー管理権限を持つメンバーだけです。',
      serversOnly: 'これはサーバーの中でだけ使えます。',
      unavailable: '設定データベースに今つながりません。少ししてからもう一度お試しください。',
      channelClosed: (channels) =>
        channels.length ? `このチャンネルではドリームしません。${f.list(channels, 'or')}でお試しください。` : 'このサーバーにはまだドリームできるチャンネルがありません。管理者が /設定 チャンネル で開けます。',
      dailyLimitReached: ({ used, limit, cost, resetsAt }) =>
        `${used >= limit ? `今日のドリームは ${f.number(limit)} 回中 ${f.number(used)} 回使いました。` : `これには ${f.number(cost)} 回分が必要ですが、今日の残りは ${f.number(limit - used)} 回です。`}日付は UTC 0 時（<t:${Math.floor(resetsAt.getTime() / 1000)}:R>）に切り替わります。`,
      negativeLimit: '1 日の上限は 0（無制限）以上にしてください。',
      foreignChannel: 'そのチャンネルはこのサーバーのものではありません。',
      saved: {
        safety: (policy) => `保存しました：このサーバーでは露骨な画像を${policy === 'block' ? '断ります' : policy === 'spoiler' ? 'ドリームしてスポイラーで投稿します' : '確認しません'}。`,
        dailyLimit: (dreams) => (dreams === 0 ? '保存しました：1 日の上限はありません。' : `保存しました：メンバーは 1 日 ${f.number(dreams)} 回までドリームできます（ズームはそのコスト分）。`),
        intensity: (intensity) => `保存しました：指定がなければ「${INTENSITY_NAMES[intensity]}」でドリームします。`,
        mentions: (enabled) => (enabled ? '保存しました：画像にメンションするとドリームします。' : '保存しました：このサーバーではメンションでドリームしません。'),
        channels: (mode, channels) =>
          mode === 'everywhere' ? '保存しました：すべてのチャンネルでドリームします。' : `保存しました：登録したチャンネルでだけドリームします：${channels.length ? f.list(channels) : 'まだありません（/設定 チャンネル で追加）'}。`,
        channel: (channel, allowed, mode) =>
          `保存しました：${channel} を${allowed ? '開きました' : '閉じました'}${mode === 'everywhere' ? '（/設定 チャンネル範囲 で登録のみにすると効きます）' : ''}。`,
      },
      show: (v) =>
        [
          `**安全：** ${v.policy}${v.policyOwn ? '' : '（ボット全体の既定）'}`,
          `**1 日の上限：** ${v.dailyLimit === 0 ? 'なし' : `メンバーごとに ${f.number(v.dailyLimit)} 回（UTC 0 時に切り替え）`}`,
          `**既定の強度：** ${v.intensity ? INTENSITY_NAMES[v.intensity] : `${INTENSITY_NAMES['medium']}（ボット全体の既定）`}`,
          `**メンション：** ${v.mentions ? 'オン' : 'オフ'}`,
          `**チャンネル：** ${v.channelMode === 'everywhere' ? 'すべて' : `登録のみ：${v.channels.length ? f.list(v.channels) : 'まだありません'}`}`,
          `**直近 7 日間：** 投稿したドリーム ${f.number(v.recent.dreams)} 件、メンバー ${f.number(v.recent.members)} 人、お断り ${f.number(v.recent.refusals)} 件`,
        ].join('\n'),
      quota: ({ used, limit, left, resetsAt }) =>
        left === undefined
          ? `このサーバーには 1 日の上限がありません。今日は ${f.number(used)} 回ドリームしました。`
          : `今日はあと ${f.number(left)} 回ドリームできます（${f.number(limit)} 回中 ${f.number(used)} 回使用）。日付は UTC 0 時（<t:${Math.floor(resetsAt.getTime() / 1000)}:R>）に切り替わります。`,
      },
    animation: {
      title: (intensity) => `DeepDream アニメーション・${INTENSITY_NAMES[intensity]}`,
      sampled: (kept, total) => `全 ${f.number(total)} フレームのうち ${f.number(kept)} フレームをドリームしました（各フレームを長く表示するので、長さは変わりません）。`,
      firstFrame: 'アニメーションなので、最初のフレームを解説しています。',
    },
  },
};

export default ja;
