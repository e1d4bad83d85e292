"""The fixed split of scikit-learn's digits, stored so that loading them needs no scikit-learn.

The split is scikit-learn's ``train_test_split(np.arange(1797), test_size=0.25,
stratify=target, random_state=0)`` on the digits' targets: :data:`ORDER` holds
the 1347 training rows in the order that call returns them, then the 450 test
rows in theirs, as little-endian uint16, zlib-compressed, in base 85.
Importing scikit-learn to compute it would take a second or more; the test
suite recomputes it with scikit-learn and checks that it has not changed.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np
import numpy.typing as npt

#: How many of the digits are training images; the rest are test images.
N_TRAIN = 1347

#: The row order: training rows, then test rows (see the module's docstring).
ORDER = (
    "c-jrr17i>h6b8`yT`k+Tm#t;nb}iesZQHh%?OL{N8}I#ybM~W{T=B`YQI|**??(}E9Jw%ocUfda_sf1>gZM3Xr*a"
    "%5$2fz2v2W7G>hLwX#)lA{i||%j&J7U3x7t@LgkW_GPg5<D7u7V@9*ZTn7S_WUiXW^2b#a5Y@gcv5mR8O$NC<9Pk"
    "S6t{`pSMGgT3R3REjs~SN`iYwIkI;Z5mILIJc+9J4~csR-9&`lZWL_Iz!{=JX+zyxD}80KuykjC9Wl+{*;23%0=F"
    "c;i}f0C*UC6(4^SFh5Wj_mw1*-8Y=lYxyiG28Y`x7a(k*#=m*A0V(QCZk=)1gE}26EEI<o#Ia??n{1;z9PfDf@J%"
    "ewTmv(`|(oMQS4`{MwL=R5kxv09n^+$eNr$`=e$nU7PE|3zM)gMS}8$hjjC3Utbo?h$9V>FP&9LIXd1s=mWt%f&3"
    "5I)lm476n24Y0>l9~Eh%kF}<p!{gIhjHM>{Ks&4h9nyLFODFgOKdjqqg^r>AQjQu^drxU?bsGKAH9nIj(MFzxEFR"
    "7eOCV;;BXsmNdWf1@6MF26`Ls2aQ@+Ty(H>7hNx7pGCc!Qq=A)&B{-XPQ&DPQ%>nw9ogKOJWF-d2|y}L!S7{1k?`"
    "XHP^ChtQ;tx&|aYYPdGJNifiIWAt(1iNgf0q-TftOlK+Rz3h_(SV^p{3XAogdE0>Nfm73%UaN~SUw(u=N<*=DW10"
    "0vwRXa9RXqdk2LZNevdcXTN|gb^f}^DK6<IG<v4xQnf6PP%5+X_yL>HIp}KrZXX#m8Db464XXn1s8~gCtmw6;a!w"
    ">4<F?E(d<7?VeV{$alr%5TBe&e5<RetIRE~d|=8FK1!J5R%HAou2TmIik`2Az;9{MY(vD0Ps*au#hQ27?CqZ~UY%"
    "5|?w+ESoI7G#dxo5ba|r`JIoqH4@H7`dj2cUN6l{Xs1l_EAod+Q2{+^`Sp^om2+4C=TtO|s-X<Z+G);&Ph41LN<!"
    "SXseDTo*jFzkYpsinvf-%a1EeUI)QDJuUS85)QAE4#TalMyF>5WI!6UHU*7-)8Lf0uA@ASqV?1O9>o_G^`;5+D(|"
    "FczG+uL(|yNfL{5DWRW6s21fWNE2@^^tdW)eayhue09t)AQLbO2m6$TFcsa4PAq{(%)Bd0^Y4fz_x-Jcc~N3aU<I"
    "&!Kh>@^pc7XwOu+~?$aK-&f8HCMO^}FU@T&KduePfIIQH=Y4V8YNr;q}?-Ykac!|HD=z37f=@4scZ+t&R)0N1BWt"
    "u=o@)wj~m(6s+N^4ZjA|t#!-cUxXC9|jpK57}+Vn3w?YVtRV%3V1Lrg|uEp{BTl<zC6lb31CHhh)A-<6$U``m#;W"
    "X<50$p*EYIA|~2UaZHt2{D-Pa0nfy#G>TT%AIbr>HI;4Ah@2cpq%Muok+xs=%QERo?{qZHwziZCz0gLxFr=nm;ge"
    "L79!q@bhuw16i%|hwv>Uz)apVdnqpBB0E2)IJvW7EhJAI(ny@DO)^BCeSsg4}tGx}QZSQ(CocKqFra0fVTKxul#t"
    "uY?yWUKs;7urP|Vmfu;MAFZ5PysqAHzk6;(t^H7qsU}mAv<`AhWBy2N()k2DMBak#*$DnB=n<FiKF^_j!VZig_J~"
    "Qdx$F<+c!~8QtC_hbO=}A+uWb4@g0gl2XwkWr0+hCs#*m(>zDWlb*7BE9FZxk)}c%?5{0pW*e^2$e8W7S%$uw}t+"
    "5$W+9yysH1O7R6Myx(e#dNYX3aIDoZtk$StIKRDsD-9u0^67_-vK!1(&xy8bK;!DR1{>oR<SFKRWVW45oExB$up?"
    "wX;E#Tw2*seJY1(9(U)<=%HyftRI&g^1=i78nO`a0zIuyXpbb}wK~pH@dz13vE(%>S|{mXGr5L6v+fepu2>ivtd("
    ">kSEA`wixSFu>#A3got|=dOON5c*<0ci*X9jgQ7`Hm>Z75k%6&YZH?V15M9NSvG7|cr38|x1l%rT;WMlldZsy~j7"
    "^!(LCA8RFh`Zn_SLY1WiIpp0o~5v2_SjPDbFJtzEG%B39_rgY*~;r_l0CH3R6+MzbSh)d<OwoU6Itwku~S!3EiT6"
    "SIh-btk0jhshRJ9!hm*pbp0jE#FXqE6vlo!G{+KIE3|mI|r86(2WIj^Y>v$Q#8!5Y2rPMm#4tiG$fT6Ib;ptdvu_"
    "d*vpiZ<`JEDbU^W4(KkMkBz?Jc#rWToFS2gxiax_W1<*5VvV#(HMiM|HJ1&DTzrpE_u4yCzvVj8>9CnuQ-qIz1z4"
    "u?1qebdIj~?miL4FkW|3SsiQ<rKKdWPqLb;_;E|DXS^Mn$$f;Ep4{9n`Z!<DmnGD@c~9@{6?u>pqP0E~CAkEBvMT"
    "yQzIi$h=GNZBrXrs&g!x?F$@%b4+aRn3(Fq@`&9RQFdma5piL|<Hr-5?J9$8s`N;@1VExY*(hr?10&x<&&AGWU2("
    "xV~{R#;vMM_;6r<dJncORC5=eCB1gT*nAgTVG1g5Svybzz5PjFCi19o%G_XnokDvM@vK3Jg+r%<KO&POUeu?C)H^"
    "r)%Cre0Dbr(<<MIejUM_7{Py#b0=KjqpY%q0QlpAl46S1Oxs^7ch`!&``E#nz8Bo~f(>l2%qb<2Empt}K<8x6th!"
    "8qxNBp)u)bBdLb69ViB#ZH$Z(%XrwS^iibEzH$`V`ybi>NXGK`flGLY7Sk8M(MVwbwjS{>o`-%PCzo6AkAv)?Q=L"
    "PWxsL_#QRWW}e>8Q2^c7#k$I0;v+ZXE;Jt>ao&$wd+V;dy*kd?ZKToq>WE4QY^pBc15}MN>oHv~)hxaLlbJd|b0Z"
    "s$p%$*&L`z2lIKWa9_=4W11HO*pYGr;SUF@se_sX6f(QPzOm%a#;4_4meabvjm^@ennLUkNgQ+7FmG*U_*(Ow?K_"
    "pF=7_j(@3Php#9q|w?~W9v4#LglF}J><!nhriG>%4*4Im5r6@n%y?(K3hPgd_9^{eSgA(eUfI;Q*y}Oa2bE;{q3N"
    "B^yoNBM?HxQrx+N5P$6x^k?kno^5(u(KgtL6pz1Q4-_u`OqF;2Vr<5nU`~M_<TQ-YBn<NLTq?c1P*Aq*K-LQW?3J"
    "3VB=CXO%C?za1|KmF{l{Q#az00u?L!RkSnPYQ&8cx}A+KHah(<;zJ{Vd052xUf1dXHP22=URwdrKZFua9I874Z<g"
    "t6w~+^|RYj6=}Sbt<?Q?S4L@0FM)Rc!j9NQ>4^wd!hcvd+UIpJl!i!I-s0U+)Kc3B>#y<TGA;GlXvr%uh}%kgs-~"
    "MICN-Au=qG15nykV!O-^TQF#75*e<|}Ni7vDn64fpuv9FR$*2EX#0Y*tyMBzEI(hhPg&**o(36J(*N@5wLt{v4}o"
    "R;@-T5F4&`dtcXS1jS;@=91D`%l}aMRcy#<3%3DR{D1?D3$4fb(3SB4h?jNo}q#oQBV65iDvONl`O?M&#oUNvh2o"
    "Ct|s9%5`Us;_6bkyI$qNp?x=0Jn@#l3SnYZA4eDu-_v4z9$TrAsDuw>YZzXM%57S(pPz!Kwiz%-yB~nrt%z)@S8K"
    "{>ikW%>x&5H?gLuPmx9ia!Lf@k1{R>#NkTYcqI5P`$+dCSd_bQAuk<xRD({iYo<L1%hrZ9$*45k2!ay4q?>GKpo+"
    "?X9eqvlLx&%2~<pwUGsTcq3X-AN=JOo{fIuIVYfs80cSVk!<IMUegv^X723w<*Hx85iM<h{5-$+dh!p6Jj7r7d#h"
    "*fRpdXyb&=Z"
)


def split_order() -> npt.NDArray[np.intp]:
    """The rows of the digits in split order: ``[:N_TRAIN]`` train, ``[N_TRAIN:]`` test."""
    packed = zlib.decompress(base64.b85decode(ORDER))
    return np.frombuffer(packed, dtype="<u2").astype(np.intp)
